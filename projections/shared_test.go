package projections_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/memlog"
	"github.com/agora-econ/agora/projections"
)

// runShared starts RunShared and returns a function that stops it and
// returns its error.
func runShared(t *testing.T, log events.Log, runners ...*projections.Runner) func() error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan error, 1)
	go func() { ch <- projections.RunShared(ctx, log, runners...) }()
	var err error
	stopped := false
	stop := func() error {
		if !stopped {
			stopped = true
			cancel()
			err = <-ch
		}
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

// TestRunSharedFeedsEveryRunnerOnce: runners that start at different
// points (one caught up already) each apply every record once, in order,
// on one follow; WaitFor works on each; a Rebuild of one starts it again
// from 1 while the others carry on.
func TestRunSharedFeedsEveryRunnerOnce(t *testing.T) {
	log := memlog.New()
	a := &appender{t: t, log: log}
	for range 4 {
		a.burn()
	}
	ahead, behind := &recorder{}, &recorder{}
	ra, rb := newRunner(t, log, ahead), newRunner(t, log, behind)
	if err := ra.CatchUp(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	stop := runShared(t, log, ra, rb)
	seq := a.burn()
	for _, r := range []*projections.Runner{ra, rb} {
		if err := r.WaitFor(waitCtx(t), seq); err != nil {
			t.Fatal(err)
		}
	}
	for name, v := range map[string]*recorder{"ahead": ahead, "behind": behind} {
		if got := v.applied(); !slices.Equal(got, upTo(5)) {
			t.Fatalf("%s applied %v, want 1..5", name, got)
		}
	}
	if err := rb.Rebuild(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	seq = a.burn()
	for _, r := range []*projections.Runner{ra, rb} {
		if err := r.WaitFor(waitCtx(t), seq); err != nil {
			t.Fatal(err)
		}
	}
	if got := ahead.applied(); !slices.Equal(got, upTo(6)) {
		t.Fatalf("the runner not rebuilt applied %v, want 1..6", got)
	}
	if got := behind.applied(); !slices.Equal(got, upTo(6)) || behind.resets != 1 {
		t.Fatalf("the rebuilt runner applied %v after %d resets, want 1..6 after 1", got, behind.resets)
	}
	if err := stop(); err != nil {
		t.Fatalf("RunShared after cancel = %v, want nil", err)
	}
}

// TestRunSharedStopsOnARefusedRecord: a runner that cannot apply a record
// stops the shared run with its error; the others keep what they applied.
func TestRunSharedStopsOnARefusedRecord(t *testing.T) {
	log := memlog.New()
	a := &appender{t: t, log: log}
	a.burn()
	ok, refusing := &recorder{}, &recorder{failOn: events.CreditsBurned{}.EventType()}
	rOK, rRefusing := newRunner(t, log, ok), newRunner(t, log, refusing)
	err := projections.RunShared(waitCtx(t), log, rOK, rRefusing)
	if err == nil || !strings.Contains(err.Error(), "sequence 1") || rRefusing.Err() == nil {
		t.Fatalf("RunShared = %v, runner error %v", err, rRefusing.Err())
	}
	if rOK.Err() != nil {
		t.Fatalf("the healthy runner stopped: %v", rOK.Err())
	}
}

func TestRunSharedRefusesNil(t *testing.T) {
	r := newRunner(t, memlog.New(), &recorder{})
	for _, c := range []struct {
		log     events.Log
		runners []*projections.Runner
	}{{nil, []*projections.Runner{r}}, {memlog.New(), nil}, {memlog.New(), []*projections.Runner{r, nil}}} {
		if err := projections.RunShared(context.Background(), c.log, c.runners...); !errors.Is(err, projections.ErrNilDependency) {
			t.Errorf("%+v: got %v", c, err)
		}
	}
}
