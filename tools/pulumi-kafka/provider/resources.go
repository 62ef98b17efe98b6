// Package provider maps the Terraform Kafka provider (Mongey/terraform-provider-kafka) onto the
// Pulumi package `kafka`, in the shape the published Python SDK pulumi_kafka 3.12.3 expects:
// the same type tokens, property names, config keys and defaults. scripts/setup_kafka_plugin.sh
// builds tfgen and the resource plugin from it (tools/README.md).
package provider

import (
	"strings"

	"github.com/Mongey/terraform-provider-kafka/kafka"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	shimv2 "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfshim/sdk-v2"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
)

// Version is the plugin's version, set at link time: -X <this package>.Version=3.12.3.
var Version string

const pkgName = "kafka"

// resource gives "kafka:index/<lowerCamel>:<Name>", e.g. "kafka:index/userScramCredential:UserScramCredential".
func resource(name string) tokens.Type {
	module := strings.ToLower(name[:1]) + name[1:]
	return tokens.Type(pkgName + ":index/" + module + ":" + name)
}

// function gives "kafka:index:<name>", e.g. "kafka:index:getTopic".
func function(name string) tokens.ModuleMember {
	return tokens.ModuleMember(pkgName + ":index:" + name)
}

// envDefault: the value of the first set variable in envVars, else value.
func envDefault(value interface{}, envVars ...string) *tfbridge.SchemaInfo {
	return &tfbridge.SchemaInfo{Default: &tfbridge.DefaultInfo{EnvVars: envVars, Value: value}}
}

func secret() *tfbridge.SchemaInfo { return &tfbridge.SchemaInfo{Secret: tfbridge.True()} }

// Provider is the bridge's description of the kafka package.
func Provider() tfbridge.ProviderInfo {
	info := tfbridge.ProviderInfo{
		P:           shimv2.NewProvider(kafka.Provider()),
		Name:        pkgName,
		Version:     Version,
		GitHubOrg:   "Mongey", // docs come from github.com/Mongey/terraform-provider-kafka's module
		Description: "Kafka topics, ACLs, quotas and SCRAM credentials (Terraform provider Mongey/kafka).",
		Keywords:    []string{"pulumi", "kafka"},
		License:     "Apache-2.0",

		// Config keys as the SDK sends them (bootstrapServers, tlsEnabled, saslMechanism, ...);
		// the defaults repeat the SDK's, so a program that omits a key gets the same value
		// whether the SDK or the plugin fills it in.
		Config: map[string]*tfbridge.SchemaInfo{
			"sasl_mechanism":        envDefault("plain", "KAFKA_SASL_MECHANISM"),
			"skip_tls_verify":       envDefault(false, "KAFKA_SKIP_VERIFY"),
			"tls_enabled":           envDefault(true, "KAFKA_ENABLE_TLS"),
			"sasl_password":         secret(),
			"client_key":            secret(),
			"client_key_passphrase": secret(),
			"sasl_aws_secret_key":   secret(),
			"sasl_aws_token":        secret(),
		},

		Resources: map[string]*tfbridge.ResourceInfo{
			"kafka_topic": {Tok: resource("Topic")},
			// `resourceName` / `resourceType` would clash with the SDK's own resource_name
			// argument, so the ACL's fields carry an acl prefix like its others.
			"kafka_acl": {Tok: resource("Acl"), Fields: map[string]*tfbridge.SchemaInfo{
				"resource_name": {Name: "aclResourceName"},
				"resource_type": {Name: "aclResourceType"},
			}},
			"kafka_quota":                 {Tok: resource("Quota")},
			"kafka_user_scram_credential": {Tok: resource("UserScramCredential")},
		},
		DataSources: map[string]*tfbridge.DataSourceInfo{
			"kafka_topic":  {Tok: function("getTopic")},
			"kafka_topics": {Tok: function("getTopics")},
		},
		Python: &tfbridge.PythonInfo{
			Requires: map[string]string{"pulumi": ">=3.0.0,<4.0.0"},
		},
	}
	// A topic's `name` is optional, as in the SDK: left out, it becomes <resource name>-<random>.
	info.SetAutonaming(255, "-")
	return info
}
