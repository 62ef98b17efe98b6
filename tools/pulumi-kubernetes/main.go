// Command pulumi-resource-kubernetes serves the Pulumi Kubernetes provider to the engine.
//
// schema-embed.json and terraform-mapping-embed.json are not part of this module: the build
// (scripts/setup_k8s.sh) writes them next to this file from provider/v4's
// cmd/pulumi-resource-kubernetes/schema.json (with "version" set to the plugin's version) and
// terraform-mapping.json, compacted; the version below comes from -ldflags -X.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema-embed.json
var schema []byte

//go:embed terraform-mapping-embed.json
var terraformMapping []byte

func main() {
	provider.Serve("kubernetes", version.Version, schema, terraformMapping)
}
