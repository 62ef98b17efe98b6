package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"go.opentelemetry.io/otel/trace/noop"
	remote "k8s.io/cri-client/pkg"
)

// criReset stops and removes every pod sandbox of the container runtime at endpoint, the way
// the kubelet does when it deletes a pod: the runtime stops the containers and tears the pod
// network down through CNI (network namespace, veth, IP address). The service scripts run it
// before stopping containerd, which would otherwise leave the pods running.
//
//	kube cri-reset unix:///run/maas-k8s/containerd/containerd.sock
func criReset(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: kube cri-reset RUNTIME_ENDPOINT")
		return 2
	}
	runtime, err := remote.NewRemoteRuntimeService(args[0], 10*time.Second, noop.NewTracerProvider(), nil)
	if err != nil {
		fmt.Fprintf(os.Stderr, "cri-reset: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sandboxes, err := runtime.ListPodSandbox(ctx, nil)
	if err != nil {
		fmt.Fprintf(os.Stderr, "cri-reset: list pod sandboxes: %v\n", err)
		return 1
	}
	rc := 0
	for _, s := range sandboxes {
		name := s.GetMetadata().GetNamespace() + "/" + s.GetMetadata().GetName()
		if err := runtime.StopPodSandbox(ctx, s.GetId()); err != nil {
			fmt.Fprintf(os.Stderr, "cri-reset: stop %s: %v\n", name, err)
			rc = 1
			continue
		}
		if err := runtime.RemovePodSandbox(ctx, s.GetId()); err != nil {
			fmt.Fprintf(os.Stderr, "cri-reset: remove %s: %v\n", name, err)
			rc = 1
			continue
		}
		fmt.Printf("removed pod sandbox %s (%s)\n", name, s.GetId()[:12])
	}
	return rc
}
