package config

import (
	"errors"
	"fmt"
	"strings"
)

// Overrides are the flags of `agora run` that change the configuration. A nil
// field was not given on the command line and leaves the file's (or the
// default's) value alone: flags over file over defaults.
type Overrides struct {
	// DataDir overrides data.dir (--data).
	DataDir *string
	// NatsURL overrides nats.url (--nats-url); an empty string selects the
	// embedded server.
	NatsURL *string
	// NatsPort overrides nats.port, the embedded server's client port.
	NatsPort *int
	// Listen overrides server.listen (--listen), host:port.
	Listen *string
	// Sync overrides nats.sync: "always" or "interval".
	Sync *string
}

// ApplyOverrides lays the given flags over c, then validates the result. On
// any error c is left unchanged; each error names the key the flag sets,
// e.g. "nats.port (command line): 70000 is not a port: must be in 1..65535".
func (c *Config) ApplyOverrides(o Overrides) error {
	next := c.Clone()
	var errs []error
	bad := func(key string, err error) {
		errs = append(errs, fmt.Errorf("%s (command line): %w", key, err))
	}
	if o.DataDir != nil {
		if strings.TrimSpace(*o.DataDir) == "" {
			bad("data.dir", errors.New("must not be empty"))
		}
		next.Data.Dir = *o.DataDir
	}
	if o.NatsURL != nil {
		if *o.NatsURL != "" {
			if err := checkNatsURL(*o.NatsURL); err != nil {
				bad("nats.url", err)
			}
		}
		next.Nats.URL = *o.NatsURL
	}
	if o.NatsPort != nil {
		if err := checkPort(*o.NatsPort); err != nil {
			bad("nats.port", err)
		}
		next.Nats.Port = *o.NatsPort
	}
	if o.Listen != nil {
		if err := checkListen(*o.Listen); err != nil {
			bad("server.listen", err)
		}
		next.Server.Listen = *o.Listen
	}
	if o.Sync != nil {
		if err := checkSync(*o.Sync); err != nil {
			bad("nats.sync", err)
		}
		next.Nats.Sync = *o.Sync
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if err := next.Validate(); err != nil {
		return err
	}
	*c = next
	return nil
}
