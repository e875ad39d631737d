package bench

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/agora-econ/agora/economy/config"
)

// TestBenchSocialSmall runs the messages measure small: every message sent
// is delivered (two events each), the figures are filled, the audit of the
// log passes, and the table and the JSON carry the ratio.
func TestBenchSocialSmall(t *testing.T) {
	for _, whole := range []bool{false, true} {
		rep, err := RunSocial(benchCtx(t), SocialOptions{Common: Common{Agents: 4, Concurrency: 4, Sync: config.SyncInterval, Logger: benchQuiet},
			Messages: 40, ContentBytes: 100, Whole: whole})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Audit.OK {
			t.Fatalf("audit: %s", rep.Audit.Problem)
		}
		m := rep.Messages
		if m == nil || m.Events != 80 || rep.RawAppend.Count != 80 {
			t.Fatalf("messages %+v, raw %+v; want 80 events and 80 raw appends", m, rep.RawAppend)
		}
		if m.MessagesPerSecond <= 0 || m.EventsPerSecond <= 0 || m.RatioToRaw <= 0 || rep.EventBytes < 100 {
			t.Errorf("missing figures: %+v", m)
		}
		var out bytes.Buffer
		if err := rep.Print(&out); err != nil || !bytes.Contains(out.Bytes(), []byte("ratio message events / raw")) {
			t.Errorf("table: %v\n%s", err, out.String())
		}
		raw, err := json.Marshal(rep)
		if err != nil || !bytes.Contains(raw, []byte(`"ratio_events_to_raw"`)) || !bytes.Contains(raw, []byte(`"messages_per_second"`)) {
			t.Errorf("json: %v %s", err, raw)
		}
	}
}

func TestBenchSocialValidates(t *testing.T) {
	good := SocialOptions{Common: Common{Agents: 2, Concurrency: 1, Sync: config.SyncAlways}, Messages: 1, ContentBytes: 1}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []func(*SocialOptions){
		func(o *SocialOptions) { o.Agents = 1 },
		func(o *SocialOptions) { o.Messages = -1 },
		func(o *SocialOptions) { o.Messages = 10_001 },
		func(o *SocialOptions) { o.ContentBytes = 0 },
		func(o *SocialOptions) { o.ContentBytes = 64<<10 + 1 },
		func(o *SocialOptions) { o.Concurrency = 0 },
		func(o *SocialOptions) { o.Sync = "never" },
	} {
		o := good
		bad(&o)
		if o.Validate() == nil {
			t.Errorf("%+v validated", o)
		}
	}
}

// TestBenchSocialSpawns runs the spawns measure small, after the
// messages, on the accounts alone (the whole economy then opens on the
// same node) and on the whole economy: every spawn is four events
// (child_spawned, agent_created, hold_placed, bid_listed), the figures are
// filled, the audit passes with the children alive, and the table and the
// JSON carry the spawns.
func TestBenchSocialSpawns(t *testing.T) {
	for _, whole := range []bool{false, true} {
		rep, err := RunSocial(benchCtx(t), SocialOptions{Common: Common{Agents: 3, Concurrency: 3,
			Sync: config.SyncInterval, Logger: benchQuiet}, Messages: 4, ContentBytes: 10, Whole: whole, Spawns: 7})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Audit.OK || rep.Audit.Agents != 3+7 {
			t.Fatalf("audit: %+v; want it passed with 3 agents and 7 children", rep.Audit)
		}
		sp := rep.Spawns
		if sp == nil || sp.Spawns != 7 || sp.Events != 7*eventsPerSpawn || rep.Messages == nil || rep.Messages.Events != 8 {
			t.Fatalf("spawns %+v, messages %+v; want 28 spawn events and 8 message events", sp, rep.Messages)
		}
		if sp.SpawnsPerSecond <= 0 || sp.EventsPerSecond <= 0 || sp.RatioToRaw <= 0 || sp.Latency.MaxMillis <= 0 {
			t.Errorf("missing figures: %+v", sp)
		}
		var out bytes.Buffer
		if err := rep.Print(&out); err != nil || !bytes.Contains(out.Bytes(), []byte("ratio spawn events / raw")) {
			t.Errorf("table: %v\n%s", err, out.String())
		}
		raw, err := json.Marshal(rep)
		if err != nil || !bytes.Contains(raw, []byte(`"spawns_per_second"`)) {
			t.Errorf("json: %v %s", err, raw)
		}
	}
	if err := (SocialOptions{Common: Common{Agents: 2, Concurrency: 1, Sync: config.SyncAlways}, ContentBytes: 1, Spawns: -1}).Validate(); err == nil {
		t.Error("a negative number of spawns validated")
	}
}
