package sandbox

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// When the limits cannot be set, the program never starts: the execution
// fails as the sandbox's, and nothing of the program ran.
func TestProgramNeverRunsWithoutItsLimits(t *testing.T) {
	eachSandbox(t, func(t *testing.T, s *Sandbox) {
		sp := spec(t, "sh", "-c", "echo ran > ran")
		u, giveBack, err := s.acquire(context.Background(), sp.Workspace)
		if err != nil {
			t.Fatal(err)
		}
		defer giveBack()
		if u.switched {
			if err := handOver(sp.Workspace, u); err != nil {
				t.Fatal(err)
			}
		}
		m, err := s.meter(sp)
		if err != nil {
			t.Fatal(err)
		}
		defer m.release()
		e, err := s.start(sp, u, m)
		if err != nil {
			t.Fatal(err)
		}
		// A resource the kernel does not know: setting it fails.
		e.limits = append(e.limits, rlimit{resource: 1000, name: "BOGUS", soft: 1, hard: 1})
		o := e.watch(context.Background(), sp, sp.workspaceBytes())
		out := drain(e.output, e.outputDone)
		if _, err := e.result(o, sp, out, usage{}, false); !errors.Is(err, ErrSandboxFailed) {
			t.Fatalf("result error = %v; want ErrSandboxFailed", err)
		}
		if _, err := os.Stat(filepath.Join(sp.Workspace, "ran")); err == nil {
			t.Fatalf("the program ran although its limits were not set")
		}
	})
}

// An execution stopped by its caller while the sandbox's first process
// still waits to be limited and released ends as killed, not as a
// failure of the sandbox: the agent's death or the executor's stop came
// first.
func TestStopBeforeTheProgramStartsIsKilled(t *testing.T) {
	eachSandbox(t, func(t *testing.T, s *Sandbox) {
		sp := spec(t, "sh", "-c", "echo ran > ran")
		u, giveBack, err := s.acquire(context.Background(), sp.Workspace)
		if err != nil {
			t.Fatal(err)
		}
		defer giveBack()
		if u.switched {
			if err := handOver(sp.Workspace, u); err != nil {
				t.Fatal(err)
			}
		}
		m, err := s.meter(sp)
		if err != nil {
			t.Fatal(err)
		}
		defer m.release()
		e, err := s.start(sp, u, m)
		if err != nil {
			t.Fatal(err)
		}
		e.kill(stopCaller)
		o := e.watch(context.Background(), sp, sp.workspaceBytes())
		out := drain(e.output, e.outputDone)
		res, err := e.result(o, sp, out, usage{}, false)
		if err != nil || res.Cause != CauseKilled {
			t.Fatalf("result %s, %v; want killed", res, err)
		}
		if _, err := os.Stat(filepath.Join(sp.Workspace, "ran")); err == nil {
			t.Fatalf("the program ran although it was stopped first")
		}
	})
}
