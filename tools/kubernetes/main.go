// Command kube runs one Kubernetes component, chosen by the name it is started under
// (a symbolic link kube-apiserver -> kube) or by its first argument (kube kubelet --flags):
//
//	kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy, kubectl
//
// Each component starts exactly as its own cmd/<name> main in k8s.io/kubernetes does.
// One more subcommand, cri-reset (crireset.go), removes every pod of a container runtime.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	_ "time/tzdata" // CronJob time zones (kube-apiserver, kube-controller-manager)

	"github.com/spf13/cobra"
	_ "k8s.io/client-go/plugin/pkg/client/auth"
	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	kubectlutil "k8s.io/kubectl/pkg/cmd/util"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"
)

var components = map[string]func() *cobra.Command{
	"kube-apiserver":          apiserver.NewAPIServerCommand,
	"kube-controller-manager": controllermanager.NewControllerManagerCommand,
	"kube-scheduler":          func() *cobra.Command { return scheduler.NewSchedulerCommand() },
	"kubelet":                 func() *cobra.Command { return kubelet.NewKubeletCommand(context.Background()) },
	"kube-proxy":              proxy.NewProxyCommand,
}

func runKubectl() int {
	logs.GlogSetter(kubectlcmd.GetLogVerbosity(os.Args)) // nolint:errcheck
	command := kubectlcmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		kubectlutil.CheckErr(err)
	}
	return 0
}

func run(name string) (int, bool) {
	switch name {
	case "kubectl":
		return runKubectl(), true
	case "cri-reset":
		return criReset(os.Args[1:]), true
	}
	if newCommand, ok := components[name]; ok {
		return cli.Run(newCommand()), true
	}
	return 0, false
}

func main() {
	if code, ok := run(filepath.Base(os.Args[0])); ok {
		os.Exit(code)
	}
	if len(os.Args) > 1 {
		name := os.Args[1]
		// the component sees its own name as argv[0] and its flags after it
		os.Args = append([]string{name}, os.Args[2:]...)
		if code, ok := run(name); ok {
			os.Exit(code)
		}
	}
	names := []string{"kubectl", "cri-reset"}
	for n := range components {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(os.Stderr, "usage: %s COMPONENT [FLAGS...] (or started as COMPONENT)\ncomponents: %v\n",
		filepath.Base(os.Args[0]), names)
	os.Exit(2)
}
