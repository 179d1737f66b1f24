// Package main only pins k8s.io/kubernetes (and, through go.mod's replace lines, its k8s.io/* staging
// modules) in this module; tools/brokers builds k8s.io/kubernetes/cmd/kube-apiserver from it.
package main

import _ "k8s.io/kubernetes/cmd/kube-apiserver/app"

func main() {}
