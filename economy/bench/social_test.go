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
