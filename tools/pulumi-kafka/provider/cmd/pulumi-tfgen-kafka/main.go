// pulumi-tfgen-kafka writes the kafka package's schema (scripts/setup_kafka_plugin.sh runs
// `pulumi-tfgen-kafka schema --out DIR`), which pulumi-resource-kafka embeds.
package main

import (
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfgen"

	"github.com/maas-iac/tools/pulumi-kafka/provider"
)

func main() {
	tfgen.Main("kafka", provider.Version, provider.Provider())
}
