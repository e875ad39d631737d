package memlog_test

import (
	"testing"

	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/logtest"
	"github.com/agora-econ/agora/events/memlog"
)

func TestLogContract(t *testing.T) {
	logtest.Run(t, func(t *testing.T) events.Log {
		l := memlog.New()
		t.Cleanup(l.Close)
		return l
	})
}

func TestStoreContract(t *testing.T) {
	logtest.RunStore(t, func(t *testing.T) events.Store { return memlog.NewStore() })
}
