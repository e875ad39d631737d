package main

import (
	"github.com/spf13/cobra"

	"github.com/agora-econ/agora/economy/config"
)

// logFlags are the flags every command that reads or writes the log shares:
// where the configuration, the data and the NATS server are.
type logFlags struct {
	configPath string
	dataDir    string
	natsURL    string
	natsPort   int
	sync       string
}

func (f *logFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.configPath, "config", "", "YAML configuration file (defaults are built in)")
	cmd.Flags().StringVar(&f.dataDir, "data", "", "data directory (default ./data)")
	cmd.Flags().StringVar(&f.natsURL, "nats-url", "", "use this NATS server or cluster instead of the embedded one")
	cmd.Flags().IntVar(&f.natsPort, "nats-port", 0, "client port of the embedded NATS server (default 4222)")
	cmd.Flags().StringVar(&f.sync, "sync", "", `fsync policy of the embedded server: "always" (default) or "interval"`)
}

// load returns the configuration: defaults, then the file, then the flags
// the user actually gave.
func (f *logFlags) load(cmd *cobra.Command) (config.Config, error) {
	cfg, err := config.Load(f.configPath)
	if err != nil {
		return cfg, err
	}
	var o config.Overrides
	if cmd.Flags().Changed("data") {
		o.DataDir = &f.dataDir
	}
	if cmd.Flags().Changed("nats-url") {
		o.NatsURL = &f.natsURL
	}
	if cmd.Flags().Changed("nats-port") {
		o.NatsPort = &f.natsPort
	}
	if cmd.Flags().Changed("sync") {
		o.Sync = &f.sync
	}
	if err := cfg.ApplyOverrides(o); err != nil {
		return cfg, err
	}
	return cfg, nil
}
