package projections_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/memlog"
	"github.com/agora-econ/agora/projections"
)

// storeless is a group of runners with no store: every start rebuilds.
func storeless(t *testing.T, runners ...*projections.Runner) *projections.Group {
	t.Helper()
	g, err := projections.NewGroup(projections.GroupOptions{Name: "shared"})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range runners {
		if err := g.Add(fmt.Sprintf("view%d", i), r); err != nil {
			t.Fatal(err)
		}
	}
	return g
}

// runShared follows the log for a group of runners with no store and
// returns a function that stops it and returns its error.
func runShared(t *testing.T, log events.Log, runners ...*projections.Runner) func() error {
	t.Helper()
	g := storeless(t, runners...)
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan error, 1)
	go func() { ch <- projections.RunGroup(ctx, log, g) }()
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

// TestGroupFeedsEveryRunnerOnce: runners that start at different
// points (one caught up already) each apply every record once, in order,
// on one follow; WaitFor works on each; a Rebuild of one starts it again
// from 1 while the others carry on.
func TestGroupFeedsEveryRunnerOnce(t *testing.T) {
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
		t.Fatalf("RunGroup after cancel = %v, want nil", err)
	}
}

// TestGroupStopsOnARefusedRecord: a runner that cannot apply a record
// stops the group's follow with its error; the others keep what they applied.
func TestGroupStopsOnARefusedRecord(t *testing.T) {
	log := memlog.New()
	a := &appender{t: t, log: log}
	a.burn()
	ok, refusing := &recorder{}, &recorder{failOn: events.CreditsBurned{}.EventType()}
	rOK, rRefusing := newRunner(t, log, ok), newRunner(t, log, refusing)
	err := projections.RunGroup(waitCtx(t), log, storeless(t, rOK, rRefusing))
	if err == nil || !strings.Contains(err.Error(), "sequence 1") || rRefusing.Err() == nil {
		t.Fatalf("RunGroup = %v, runner error %v", err, rRefusing.Err())
	}
	if rOK.Err() != nil {
		t.Fatalf("the healthy runner stopped: %v", rOK.Err())
	}
}

func TestGroupRefusesANilRunner(t *testing.T) {
	g, err := projections.NewGroup(projections.GroupOptions{Name: "shared"})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Add("view", nil); !errors.Is(err, projections.ErrNilDependency) {
		t.Errorf("Add(nil) = %v, want ErrNilDependency", err)
	}
}
