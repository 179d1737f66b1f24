import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;
import java.util.List;
import java.util.concurrent.CountDownLatch;

/**
 * Starts mongo-java-server in memory for tools/brokers, with the oplog on so change streams work.
 * Usage: java -cp ... MongoLauncher <host> <port>
 */
public final class MongoLauncher {
    /**
     * What the server reports in its handshake. Its newest built-in version (MONGO_5_0) reports wire version 8,
     * which the mongodb driver 7.x refuses (it needs 9, MongoDB 4.4). The version is only reported, never used
     * to switch server behaviour (checked with javap on 1.47.0), so claiming 4.4 changes nothing else.
     */
    private static final class Reported implements MongoVersion {
        @Override
        public List<Integer> getVersionArray() {
            return List.of(4, 4, 0);
        }

        @Override
        public int getWireVersion() {
            return 9;
        }
    }

    public static void main(String[] args) throws InterruptedException {
        String host = args.length > 0 ? args[0] : "127.0.0.1";
        int port = args.length > 1 ? Integer.parseInt(args[1]) : 27017;

        MemoryBackend backend = new MemoryBackend();
        backend.version(new Reported());
        MongoServer server = new MongoServer(backend);
        server.enableOplog();
        server.bind(host, port);
        System.out.println("mongo-java-server listening on " + server.getLocalAddress());

        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.shutdownNow();
            stopped.countDown();
        }));
        // Netty's threads may be daemons: block main so the JVM stays up until a signal.
        stopped.await();
    }
}
