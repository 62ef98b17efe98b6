// Command pause is the process of a pod's sandbox container: it holds the pod's namespaces
// and does nothing else until it is told to stop. It is built statically (CGO_ENABLED=0) and
// packed alone into the image the container runtime uses as its sandbox image
// (scripts/setup_k8s.sh).
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	// As PID 1 of the pod it also reaps orphaned children that end up with it.
	signal.Ignore(syscall.SIGCHLD)
	<-stop
}
