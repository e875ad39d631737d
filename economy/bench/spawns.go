package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"time"

	"github.com/agora-econ/agora/actors/executor"
	"github.com/agora-econ/agora/api/system"
	"github.com/agora-econ/agora/economy"
	"github.com/agora-econ/agora/events"
)

// The spawns measure of `agora bench social` (SPEC.md 1.7): children
// spawned through the economy's spawner, as the System Service spawns
// them for POST /social/spawn, each with a one-file program and a first
// bid.

// SpawnsFigure is the spawns measure. A spawn with a first bid is four
// events: child_spawned on the parent, agent_created and hold_placed on
// the child, bid_listed on the book. A spawn's call returns once the
// child exists and its first bid is listed (the answer's wait), so
// SpawnsPerSecond is the rate of whole spawns; RatioToRaw is their
// events per second over the raw JetStream appends per second.
type SpawnsFigure struct {
	Spawns            int       `json:"spawns"`
	Seconds           float64   `json:"seconds"`
	SpawnsPerSecond   float64   `json:"spawns_per_second"`
	Events            uint64    `json:"events"`
	EventsPerSecond   float64   `json:"events_per_second"`
	Latency           latencies `json:"spawn_latency"`
	RatioToRaw        float64   `json:"ratio_events_to_raw"`
	CPUMicrosPerEvent float64   `json:"cpu_micros_per_event"`
}

// eventsPerSpawn: child_spawned, agent_created, hold_placed, bid_listed.
const eventsPerSpawn = 4

// spawnProgram is the program of every child: one small file.
var spawnProgram = map[string]string{"main.py": "print('a child of the benchmark')\n"}

// measureSpawns spawns o.Spawns children of random agents of ids through
// the economy's spawner with o.Concurrency callers; each call waits for
// its child and its first bid, as POST /social/spawn does.
func measureSpawns(ctx context.Context, e *economy.Economy, o SocialOptions, ids []string, raw rawFigure) (*SpawnsFigure, error) {
	f := &SpawnsFigure{Spawns: o.Spawns}
	if err := e.ConfigureMarkets(ctx); err != nil {
		return nil, err
	}
	// The children's workspaces are written beside the node's, in a
	// directory of their own removed with the measure.
	dir, remove, err := benchDir()
	if err != nil {
		return nil, err
	}
	defer remove()
	ws, err := executor.NewWorkspaces(filepath.Join(dir, "spawned"))
	if err != nil {
		return nil, err
	}
	resources, bid, credits := spawnBid(e)
	spawner := e.Spawner(ws)
	before, err := settleSpawns(ctx, e)
	if err != nil {
		return nil, err
	}
	progressf(o.Progress, "spawns: %d children with a first bid, %d callers", o.Spawns, o.Concurrency)
	cpu := processCPU()
	started := time.Now()
	workers := max(min(o.Concurrency, o.Spawns), 1)
	lat := make([][]time.Duration, workers)
	err = parallel(ctx, o.Spawns, workers, func(ctx context.Context, w, i int) error {
		parent := ids[rand.IntN(len(ids))]
		key := fmt.Sprintf("bench/spawn/%s/%d", parent, i)
		began := time.Now()
		r, err := spawner.Spawn(ctx, parent, key, system.SpawnRequest{ChildID: system.ChildIDFor(key), Files: spawnProgram,
			Command: []string{"python3", "main.py"}, InitialCreditsMicros: credits,
			InitialBid: &system.SpawnBid{Resources: resources, AmountMicros: bid}})
		if err != nil {
			return fmt.Errorf("spawn by %s: %w", parent, err)
		}
		if r.Status != "alive" {
			return fmt.Errorf("spawn by %s: the child %s is %s, not alive, when the call returns", parent, r.AgentID, r.Status)
		}
		lat[w] = append(lat[w], time.Since(began))
		return nil
	})
	if err != nil {
		return nil, err
	}
	elapsed := time.Since(started)
	after, err := settleSpawns(ctx, e)
	if err != nil {
		return nil, err
	}
	f.Latency = summarise(slices.Concat(lat...))
	f.Seconds = elapsed.Seconds()
	f.SpawnsPerSecond = rate(float64(o.Spawns), elapsed)
	f.Events = after - before
	f.EventsPerSecond = rate(float64(f.Events), elapsed)
	f.RatioToRaw = ratio(f.EventsPerSecond, raw.RatePerSecond)
	f.CPUMicrosPerEvent = perEvent(processCPU()-cpu, f.Events)
	if want := uint64(eventsPerSpawn * o.Spawns); f.Events != want {
		return f, fmt.Errorf("%d events for %d spawns; want %d (was a first bid rejected?)", f.Events, o.Spawns, want)
	}
	return f, nil
}

// spawnBid is the children's first bid, one CPU second and one MB of
// memory offered at twice its reserve at the configured prices, and
// their initial credits, three times the reserve.
func spawnBid(e *economy.Economy) (resources map[string]events.Units, bid, credits events.Micros) {
	cfg := e.Node().Config()
	resources = map[string]events.Units{"cpu_seconds": events.WholeUnits(1), "memory_mb": events.WholeUnits(1)}
	reserve := cfg.Resources["cpu_seconds"].InitialPrice.Micros() + cfg.Resources["memory_mb"].InitialPrice.Micros()
	return resources, 2 * reserve, 3 * reserve
}

// settleSpawns waits until the spawn, clearing and transfer managers
// have done what the log holds, and returns the log's last sequence.
func settleSpawns(ctx context.Context, e *economy.Economy) (uint64, error) {
	for {
		last, err := e.Log().LastSeq(ctx)
		if err != nil {
			return 0, err
		}
		for _, m := range []interface {
			WaitFloor(context.Context, uint64) error
		}{e.Spawns(), e.Markets(), e.Transfers()} {
			if err := m.WaitFloor(ctx, last); err != nil {
				return 0, fmt.Errorf("wait for the managers: %w", err)
			}
		}
		now, err := e.Log().LastSeq(ctx)
		if err != nil || now == last {
			return now, err
		}
	}
}
