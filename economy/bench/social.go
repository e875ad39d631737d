package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/economy"
	"github.com/agora-econ/agora/economy/config"
	"github.com/agora-econ/agora/events"
)

// `agora bench social` measures the society of agents (SPEC.md 1.6, 1.7)
// against the raw JetStream append measured in the same run. Each measure
// is a section of its own (SocialReport.Messages, ...), run by a function
// of its own on the same node after the raw append, so that another
// measure is one more option, one more section and one more function.

// SocialOptions are the parameters of `agora bench social`. Its CPU
// profile is of the measures after the raw append; it needs two agents,
// the parties of a message.
type SocialOptions struct {
	Common
	// Whole runs the whole economy (markets, read models, the inbox among
	// them) rather than the accounts and the transfer manager alone.
	Whole bool

	// Messages is how many messages to send (0: no messages measure);
	// ContentBytes the size of each one's content.
	Messages     int
	ContentBytes int

	// Spawns is how many children to spawn (0: no spawns measure). They
	// need the whole economy (the clearing lists their first bids): without
	// Whole, the economy opens whole on the same node for them once the
	// messages are measured.
	Spawns int
}

func (o SocialOptions) Validate() error {
	errs := o.Common.validate(2)
	if o.Messages < 0 {
		errs = append(errs, fmt.Errorf("--messages must not be negative, got %d", o.Messages))
	}
	// Random recipients must not fill an inbox: a bounce would add events
	// the measure does not count on. Half the limit leaves room for the
	// luck of the draw.
	if o.Agents >= 2 && o.Messages > o.Agents*agent.InboxLimitMax/2 {
		errs = append(errs, fmt.Errorf("--messages must be at most %d for %d agents (inboxes of %d unread)",
			o.Agents*agent.InboxLimitMax/2, o.Agents, agent.InboxLimitMax))
	}
	if o.ContentBytes < 1 || o.ContentBytes > agent.MessageBytesMax {
		errs = append(errs, fmt.Errorf("--content-bytes must be within 1 and %d, got %d", agent.MessageBytesMax, o.ContentBytes))
	}
	if o.Spawns < 0 || o.Agents+o.Spawns > config.MaxAgentsMax {
		errs = append(errs, fmt.Errorf("--spawns must be within 0 and %d (agents and children alive at most), got %d",
			max(config.MaxAgentsMax-o.Agents, 0), o.Spawns))
	}
	return errors.Join(errs...)
}

// SocialReport is what `agora bench social --json` prints: the run's
// settings, the raw append it is compared with, one section per measure,
// and the audit of the log.
type SocialReport struct {
	Sync        string `json:"sync"`
	Whole       bool   `json:"whole_economy"`
	Agents      int    `json:"agents"`
	Concurrency int    `json:"concurrency"`
	// EventBytes is the size of the raw messages: a message_sent event as
	// the log stores it, with content of ContentBytes.
	EventBytes int       `json:"event_bytes"`
	RawAppend  rawFigure `json:"raw_jetstream_append"`

	Messages *MessagesFigure `json:"messages,omitempty"`
	Spawns   *SpawnsFigure   `json:"spawns,omitempty"`

	Audit AuditResult `json:"audit"`
}

// Audited is the economy audit of the log the social benchmark built.
func (r SocialReport) Audited() AuditResult { return r.Audit }

// MessagesFigure is the messages measure. A message is two events when it
// is delivered (message_sent on the sender, message_delivered on the
// recipient), as a transfer is; RatioToRaw is the message events per
// second, until every message is delivered, over the raw JetStream
// appends per second: the share of the log's own speed messages get.
type MessagesFigure struct {
	Messages     int `json:"messages"`
	ContentBytes int `json:"content_bytes"`
	// AckSeconds runs from the first send to the last acknowledgement,
	// SettleSeconds to the moment the transfer manager has delivered all.
	AckSeconds        float64   `json:"ack_seconds"`
	SettleSeconds     float64   `json:"settle_seconds"`
	MessagesPerSecond float64   `json:"messages_per_second"`
	Events            uint64    `json:"events"`
	EventsPerSecond   float64   `json:"events_per_second"`
	Latency           latencies `json:"send_latency"`
	RatioToRaw        float64   `json:"ratio_events_to_raw"`
	CPUMicrosPerEvent float64   `json:"cpu_micros_per_event"`
}

// eventsPerMessage: message_sent and message_delivered.
const eventsPerMessage = 2

// RunSocial runs the social benchmark on a fresh embedded server.
func RunSocial(ctx context.Context, o SocialOptions) (SocialReport, error) {
	rep := SocialReport{Sync: o.Sync, Whole: o.Whole, Agents: o.Agents, Concurrency: o.Concurrency}
	n, closeNode, err := freshNode(ctx, o.Common, 0)
	if err != nil {
		return rep, err
	}
	defer closeNode()

	content := strings.Repeat("m", o.ContentBytes)
	payload, err := messageEventBytes(content)
	if err != nil {
		return rep, err
	}
	rep.EventBytes = len(payload)
	ids := benchAgentIDs(o.Agents)
	// As many raw appends as message events, and at least two per subject
	// when another measure runs alone.
	count := max(eventsPerMessage*o.Messages, eventsPerSpawn*o.Spawns, 2*len(ids))
	if rep.RawAppend, _, err = measureRawAppend(ctx, o.Common, n, ids, count, payload); err != nil {
		return rep, err
	}

	e, err := startWithAgents(ctx, o.Common, "social", n, ids, ledgerScope(o.Whole)...)
	if err != nil {
		return rep, err
	}
	defer func() { stopEconomy(e, o.Progress) }() // e changes when the spawns open the whole economy
	err = profile(o.CPUProfile, func() error {
		if o.Messages > 0 {
			if rep.Messages, err = measureMessages(ctx, e, o, ids, content, rep.RawAppend); err != nil {
				return err
			}
		}
		if o.Spawns > 0 {
			if !o.Whole {
				stopEconomy(e, o.Progress)
				progressf(o.Progress, "spawns: opening the whole economy on the same node")
				if e, err = startEconomy(n); err != nil {
					return err
				}
			}
			if rep.Spawns, err = measureSpawns(ctx, e, o, ids, rep.RawAppend); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	if rep.Audit, err = stopAndAudit(ctx, o.Common, e, n); err != nil {
		return rep, err
	}
	return rep, nil
}

// measureMessages sends o.Messages messages between random distinct agents
// through the accounts' front door (Accounts.SendMessage, as the System
// Service does: the recipient checked, the sender debited) with
// o.Concurrency callers, and waits until the transfer manager has
// delivered every one.
func measureMessages(ctx context.Context, e *economy.Economy, o SocialOptions, ids []string, content string, raw rawFigure) (*MessagesFigure, error) {
	f := &MessagesFigure{Messages: o.Messages, ContentBytes: o.ContentBytes}
	cost := e.Node().Config().Economy.MessageCost.Micros()
	progressf(o.Progress, "messages: %d of %d bytes, %d callers", o.Messages, o.ContentBytes, o.Concurrency)
	d, err := driveSettled(ctx, e, func(ctx context.Context) (latencies, error) {
		return drivePairs(ctx, ids, o.Messages, o.Concurrency, func(ctx context.Context, from, to string) error {
			id := "m-" + events.NewID()
			if _, err := e.Accounts().SendMessage(ctx, from, id, agent.SendMessage{MessageID: id, To: to, Content: content,
				CostMicros: cost, InboxLimit: agent.InboxLimitMax}); err != nil {
				return fmt.Errorf("message %s -> %s: %w", from, to, err)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	f.Latency = d.latency
	f.AckSeconds, f.SettleSeconds = d.acked.Seconds(), d.settled.Seconds()
	f.MessagesPerSecond = rate(float64(o.Messages), d.acked)
	f.Events = d.events
	f.EventsPerSecond = rate(float64(f.Events), d.settled)
	f.RatioToRaw = ratio(f.EventsPerSecond, raw.RatePerSecond)
	f.CPUMicrosPerEvent = perEvent(d.cpu, f.Events)
	if want := uint64(eventsPerMessage * o.Messages); f.Events != want {
		return f, fmt.Errorf("%d events for %d messages; want %d (did a message bounce?)", f.Events, o.Messages, want)
	}
	return f, nil
}

// messageEventBytes is a real MessageSent envelope with content, as the log
// stores it: the size of the raw messages.
func messageEventBytes(content string) ([]byte, error) {
	id := events.NewID()
	env, err := events.Encode(events.KindAgent, "a000001", events.MessageSent{
		MessageID: "m-" + id, ToAgentID: "a000002", Content: content, CostMicros: events.MicrosPerCredit, InboxLimit: agent.InboxLimitMax,
	}, events.Meta{Time: time.Now(), IdempotencyKey: id, Prev: samplePrev})
	if err != nil {
		return nil, err
	}
	return events.Marshal(env)
}

func (r SocialReport) Print(out io.Writer) error {
	fmt.Fprintf(out, "agora bench social: %d agents, %d callers, sync %s, %s\n\n", r.Agents, r.Concurrency, r.Sync, ledgerScopeName(r.Whole))
	tw := measureTable(out)
	measureRow(tw, fmt.Sprintf("raw JetStream append (%d bytes, expected seq, 1 in flight x %d subjects)", r.EventBytes, r.RawAppend.Parties),
		r.RawAppend.Count, r.RawAppend.Seconds, r.RawAppend.RatePerSecond, r.RawAppend.Latency)
	if m := r.Messages; m != nil {
		measureRow(tw, "messages sent (acknowledged)", m.Messages, m.AckSeconds, m.MessagesPerSecond, &m.Latency)
		measureRow(tw, "message events, until all delivered", m.Events, m.SettleSeconds, m.EventsPerSecond, nil)
	}
	if sp := r.Spawns; sp != nil {
		measureRow(tw, "spawns (each until its child exists, first bid listed; whole economy)", sp.Spawns, sp.Seconds, sp.SpawnsPerSecond, &sp.Latency)
		measureRow(tw, "spawn events", sp.Events, sp.Seconds, sp.EventsPerSecond, nil)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if m := r.Messages; m != nil {
		fmt.Fprintf(out, "\nratio message events / raw JetStream appends  %.2f\n", m.RatioToRaw)
		fmt.Fprintf(out, "CPU per message event                          %.1f µs\n", m.CPUMicrosPerEvent)
		fmt.Fprintf(out, "send latency p50 / p99 / max                   %.1f / %.1f / %.1f ms\n",
			m.Latency.P50Millis, m.Latency.P99Millis, m.Latency.MaxMillis)
	}
	if sp := r.Spawns; sp != nil {
		fmt.Fprintf(out, "\nratio spawn events / raw JetStream appends    %.2f\n", sp.RatioToRaw)
		fmt.Fprintf(out, "CPU per spawn event                            %.1f µs\n", sp.CPUMicrosPerEvent)
		fmt.Fprintf(out, "spawn latency p50 / p99 / max                  %.1f / %.1f / %.1f ms\n",
			sp.Latency.P50Millis, sp.Latency.P99Millis, sp.Latency.MaxMillis)
	}
	printAudit(out, r.Audit)
	return nil
}
