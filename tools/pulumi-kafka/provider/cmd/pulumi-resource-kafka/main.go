// pulumi-resource-kafka is the kafka resource plugin the engine starts. schema.json is not in
// the repository: scripts/setup_kafka_plugin.sh generates it with pulumi-tfgen-kafka into a
// build copy of this module before building this command.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"

	"github.com/maas-iac/tools/pulumi-kafka/provider"
)

//go:embed schema.json
var schema []byte

func main() {
	tfbridge.Main("kafka", provider.Version, provider.Provider(), schema)
}
