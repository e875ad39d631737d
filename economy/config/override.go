package config

import (
	"errors"
	"fmt"
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
	override(&errs, "data.dir", o.DataDir, &next.Data.Dir, checkDataDir)
	override(&errs, "nats.url", o.NatsURL, &next.Nats.URL, checkNatsURL)
	override(&errs, "nats.port", o.NatsPort, &next.Nats.Port, checkPort)
	override(&errs, "server.listen", o.Listen, &next.Server.Listen, checkListen)
	override(&errs, "nats.sync", o.Sync, &next.Nats.Sync, checkSync)
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if err := next.Validate(); err != nil {
		return err
	}
	*c = next
	return nil
}

// override lays a flag's value v over *field when the flag was given (v is
// not nil); what check finds wrong with it joins errs under key, the
// configuration key the flag sets.
func override[T any](errs *[]error, key string, v, field *T, check func(T) error) {
	if v == nil {
		return
	}
	if err := check(*v); err != nil {
		*errs = append(*errs, fmt.Errorf("%s (command line): %w", key, err))
	}
	*field = *v
}
