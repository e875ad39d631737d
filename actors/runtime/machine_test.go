package runtime

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/chain"
)

// rewrite regenerates the expected output of testdata/commit/*.txt:
// go test ./actors/runtime -run TestCommitPath -args -rewrite (then read
// the diff: the output is the specification).
var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of testdata/commit scripts")

// TestCommitPath runs the commit path scripts of testdata/commit/*.txt
// against the machine alone, as etcd-io/raft's interaction tests drive a
// RawNode: each input is a line, and what the machine asks after it (its
// ready) and where it then stands are printed and compared with the
// script's expected output. The shell's part (the log, the store, the
// mailbox) is the script's: it acknowledges or fails each append, runs
// each recovery on an in-memory log, and refuses to go on while the
// machine waits for an append in its turn or a recovery. The language is
// described in testdata/commit/README.md.
//
// Besides the printed output, after every step the interpreter checks
// that no command is answered with an event that is not in the log (nor,
// first time, with one the log has not acknowledged), that no call is
// answered twice, that every append expects the actor's
// last record as the log has it unless another writer came between, and
// that each batch continues the actor's hash chain; at the end of a
// script, that every call was answered.
func TestCommitPath(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "commit", "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no scripts in testdata/commit")
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			runCommitScript(t, f)
		})
	}
}

// The toy aggregate of the scripts: a counter whose commands grant (no
// condition), burn (refused beyond the balance) and receive (a manager's
// command, with a trigger), on the log's own event types.
type counter struct {
	Balance int64 `json:"balance"`
}

type counterCmd interface{ counterCmd() }

type grantCmd struct{ n int64 }
type burnCmd struct{ n int64 }
type receiveCmd struct {
	n int64
	t events.Trigger
}

func (grantCmd) counterCmd()   {}
func (burnCmd) counterCmd()    {}
func (receiveCmd) counterCmd() {}

// Triggered makes receive a manager's command (redelivery marks).
func (c receiveCmd) Triggered() events.Trigger { return c.t }

// errInsufficient is the counter's one rejection.
var errInsufficient = errors.New("insufficient balance")

var counterAgg = Aggregate[counter, counterCmd]{
	Kind: events.KindAgent,
	New:  func(string) counter { return counter{} },
	Decide: func(s counter, c counterCmd) (events.Event, error) {
		switch c := c.(type) {
		case grantCmd:
			return events.CreditsGranted{AmountMicros: events.Micros(c.n)}, nil
		case burnCmd:
			if c.n > s.Balance {
				return nil, errInsufficient
			}
			return events.CreditsBurned{AmountMicros: events.Micros(c.n), Reason: "script"}, nil
		case receiveCmd:
			return events.TransferReceived{TransferID: "t", FromAgentID: "x", AmountMicros: events.Micros(c.n), Trigger: c.t}, nil
		}
		return nil, fmt.Errorf("unknown command %T", c)
	},
	Evolve: func(s counter, e events.Event) counter {
		switch e := e.(type) {
		case events.CreditsGranted:
			s.Balance += int64(e.AmountMicros)
		case events.CreditsBurned:
			s.Balance -= int64(e.AmountMicros)
		case events.TransferReceived:
			s.Balance += int64(e.AmountMicros)
		}
		return s
	},
	Admit: func(s counter, e events.Event) error {
		if b, ok := e.(events.CreditsBurned); ok && int64(b.AmountMicros) > s.Balance {
			return errInsufficient
		}
		return nil
	},
	Public: func(s counter) any { return s.Balance },
}

// scriptActor is the id of the one actor a script drives.
const scriptActor = "a"

// scriptNow is the time of every event decided: the machine has no clock.
var scriptNow = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// commitScript is the interpreter's state: the machine, and the IO the
// shell would do, in memory.
type commitScript struct {
	t    *testing.T
	file string
	line int
	out  *strings.Builder

	m *machine[counter, counterCmd]
	// log is the stream: the actor's records and the sequences of others.
	log []events.Record
	seq uint64 // the stream's last sequence
	// order is the append the machine asked for and the script has not
	// carried out yet.
	order *appendOrder[counter]
	// recover and catchUp are asked and not yet carried out.
	recover, catchUp bool
	snapshot         []byte // the last snapshot saved

	calls    map[chan<- reply]string
	answered map[string]int
	acked    map[uint64]bool
}

func runCommitScript(t *testing.T, file string) {
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	s := &commitScript{t: t, file: file, calls: map[chan<- reply]string{}, answered: map[string]int{}, acked: map[uint64]bool{}}
	var rewritten strings.Builder
	lines := strings.Split(string(b), "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		if line == "" || strings.HasPrefix(line, "#") {
			rewritten.WriteString(lines[i] + "\n")
			continue
		}
		s.line = i + 1
		// The expected output follows "----" up to a blank line.
		var want []string
		j := i + 1
		if j < len(lines) && strings.TrimSpace(lines[j]) == "----" {
			for j++; j < len(lines) && strings.TrimSpace(lines[j]) != ""; j++ {
				want = append(want, lines[j])
			}
		} else {
			j = i + 1
		}
		s.out = &strings.Builder{}
		s.step(line)
		got := strings.TrimRight(s.out.String(), "\n")
		rewritten.WriteString(line + "\n----\n" + got + "\n")
		if !*rewrite && got != strings.Join(want, "\n") {
			t.Errorf("%s:%d: %s\ngot:\n%s\nwant:\n%s", file, s.line, line, got, strings.Join(want, "\n"))
		}
		i = j - 1
		switch {
		case j < len(lines) && strings.TrimSpace(lines[j]) == "":
			rewritten.WriteString("\n")
			i = j
		case j < len(lines):
			rewritten.WriteString("\n") // a blank line ends the output
		}
	}
	s.finish()
	if *rewrite {
		if err := os.WriteFile(file, []byte(strings.TrimRight(rewritten.String(), "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func (s *commitScript) fatalf(format string, args ...any) {
	s.t.Helper()
	s.t.Fatalf("%s:%d: "+format, append([]any{s.file, s.line}, args...)...)
}

func (s *commitScript) printf(format string, args ...any) {
	fmt.Fprintf(s.out, format+"\n", args...)
}

// step runs one line of the script.
func (s *commitScript) step(line string) {
	f := strings.Fields(line)
	cmd, args := f[0], f[1:]
	if s.m == nil && cmd != "options" {
		s.new(nil)
	}
	// The shell carries out an append in its turn, a recovery and a
	// catch-up before it takes its next message.
	if (s.order != nil && !s.order.beside || s.recover || s.catchUp) &&
		!slices.Contains([]string{"append", "append-fail", "recover", "recover-fail", "catch-up"}, cmd) {
		s.fatalf("%s: the shell owes the machine an append, recovery or catch-up first", cmd)
	}
	switch cmd {
	case "options":
		s.new(args)
	case "cmd":
		s.cmd(args)
	case "query":
		name, kv := s.named(args)
		var unaffected []string
		if u := kv["unaffected"]; u != "" {
			unaffected = strings.Split(u, ",")
		}
		s.m.receive(call{msg: Query[counter]{Fn: func(c counter) any { return c.Balance }, Unaffected: unaffected}, to: s.call(name)}, time.Time{})
	case "recall":
		name, kv := s.named(args)
		s.m.receive(call{msg: recall{key: kv["key"]}, to: s.call(name)}, time.Time{})
	case "admit":
		name, kv := s.named(args)
		s.m.receive(call{msg: admission{seq: s.uint(kv["seq"])}, to: s.call(name)}, time.Time{})
	case "resume":
		if len(args) != 1 {
			s.fatalf("resume <manager>")
		}
		s.m.receive(call{msg: resume{manager: args[0]}, to: s.call("resume-" + args[0])}, time.Time{})
	case "flush":
		s.m.flush()
	case "stop":
		s.m.stop()
	case "append":
		s.append(args)
	case "append-fail":
		s.appendFail(args)
	case "recover":
		s.doRecover(nil)
	case "recover-fail":
		s.doRecover(errors.New("log unreachable"))
	case "catch-up":
		if !s.catchUp {
			s.fatalf("catch-up not asked for")
		}
		s.catchUp = false
		for _, r := range s.records(s.m.last + 1) {
			s.m.fold(r)
		}
		_ = s.m.caughtUp(nil)
	case "foreign":
		s.foreign(args)
	case "other":
		// Another actor's record: the stream moves, the actor's subjects
		// do not.
		s.seq += s.uint(args[0])
		s.printf("stream at %d", s.seq)
		return
	default:
		s.fatalf("unknown command %q", cmd)
	}
	s.take()
}

// new starts the machine with options given as key=value.
func (s *commitScript) new(args []string) {
	if s.m != nil {
		s.fatalf("options must come first")
	}
	opts := Options{SnapshotEvery: -1}
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		n := int(s.uint(v))
		switch k {
		case "batch":
			opts.BatchMax = n
		case "pipeline":
			opts.PipelineMin = n
		case "atomic":
			opts.AtomicBatchMin = n
		case "snapshot":
			opts.SnapshotEvery = n
		case "memory":
			opts.IdempotencyMemory = n
		default:
			s.fatalf("unknown option %q", k)
		}
	}
	s.m = newMachine(counterAgg, scriptActor, opts, true, slog.New(slog.DiscardHandler))
}

// named splits "<name> k=v ..." into the name and the pairs.
func (s *commitScript) named(args []string) (string, map[string]string) {
	if len(args) == 0 {
		s.fatalf("missing the caller's name")
	}
	kv := map[string]string{}
	for _, a := range args[1:] {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			s.fatalf("want key=value, got %q", a)
		}
		kv[k] = v
	}
	return args[0], kv
}

func (s *commitScript) uint(v string) uint64 {
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		s.fatalf("want a number, got %q", v)
	}
	return n
}

// call names the answer of a new call.
func (s *commitScript) call(name string) replyTo {
	for _, n := range s.calls {
		if n == name && !strings.HasPrefix(name, "resume-") {
			s.fatalf("caller %q named twice", name)
		}
	}
	ch := make(chan reply, 1)
	s.calls[ch] = name
	return replyTo{ch: ch}
}

// cmd: cmd <name> grant|burn|receive <n> [key=K] [manager=M] [trigger=M:SEQ[:INDEX]]
func (s *commitScript) cmd(args []string) {
	if len(args) < 3 {
		s.fatalf("cmd <name> grant|burn|receive <n> [key=K] [manager=M] [trigger=M:SEQ[:INDEX]]")
	}
	name, kv := s.named(append([]string{args[0]}, args[3:]...))
	n := int64(s.uint(args[2]))
	var c counterCmd
	switch args[1] {
	case "grant":
		c = grantCmd{n}
	case "burn":
		c = burnCmd{n}
	case "receive":
		var t events.Trigger
		if tr := kv["trigger"]; tr != "" {
			p := strings.Split(tr, ":")
			t.Manager, t.Seq = p[0], s.uint(p[1])
			if len(p) > 2 {
				t.Index = uint32(s.uint(p[2]))
			}
		}
		c = receiveCmd{n: n, t: t}
	default:
		s.fatalf("unknown command %q", args[1])
	}
	s.m.receive(call{msg: Request{Command: c, Key: kv["key"], Manager: kv["manager"]}, to: s.call(name)}, scriptNow)
}

// records are the actor's records from sequence from.
func (s *commitScript) records(from uint64) []events.Record {
	var out []events.Record
	for _, r := range s.log {
		if r.Seq >= from {
			out = append(out, r)
		}
	}
	return out
}

// lastOfActor is the sequence of the actor's last record in the log.
func (s *commitScript) lastOfActor() uint64 {
	if len(s.log) == 0 {
		return 0
	}
	return s.log[len(s.log)-1].Seq
}

// store writes env to the log as the server would.
func (s *commitScript) store(env events.Envelope) uint64 {
	s.seq++
	s.log = append(s.log, events.Record{Seq: s.seq, Envelope: env})
	return s.seq
}

// append: append [landed=N] — the server takes the order: it refuses it
// all when its expectation fails (another writer came between), else
// stores and acknowledges it.
func (s *commitScript) append(args []string) {
	o := s.takeOrder()
	if len(args) != 0 {
		s.fatalf("append takes no arguments")
	}
	if o.last != s.lastOfActor() {
		s.printf("server: wrong last sequence (expected %d, log at %d)", o.last, s.lastOfActor())
		s.m.appended(nil, fmt.Errorf("%w: expected %d", events.ErrWrongLastSequence, o.last))
		return
	}
	seqs := make([]uint64, 0, len(o.envs))
	for _, env := range o.envs {
		seq := s.store(env)
		seqs = append(seqs, seq)
		s.acked[seq] = true
	}
	s.m.appended(seqs, nil)
}

// append-fail [acked=N] [landed=M]: the append fails (a timeout, the
// connection lost) after the first N envelopes were acknowledged and M
// (at least N) stored: the outcome of the rest is unknown to the actor.
func (s *commitScript) appendFail(args []string) {
	o := s.takeOrder()
	_, kv := s.named(append([]string{"-"}, args...))
	acked, landed := int(s.uintOr(kv["acked"], 0)), 0
	landed = int(s.uintOr(kv["landed"], uint64(acked)))
	if landed < acked || landed > len(o.envs) || o.atomic && acked != 0 && acked != len(o.envs) {
		s.fatalf("append-fail: acked=%d landed=%d of %d envelopes (atomic %v)", acked, landed, len(o.envs), o.atomic)
	}
	var seqs []uint64
	for i, env := range o.envs[:landed] {
		seq := s.store(env)
		if i < acked {
			seqs = append(seqs, seq)
			s.acked[seq] = true
		}
	}
	s.m.appended(seqs, errors.New("injected: no acknowledgement"))
}

func (s *commitScript) uintOr(v string, d uint64) uint64 {
	if v == "" {
		return d
	}
	return s.uint(v)
}

func (s *commitScript) takeOrder() *appendOrder[counter] {
	if s.order == nil {
		s.fatalf("no append asked for")
	}
	o := s.order
	s.order = nil
	return o
}

// foreign grant|burn <n> | foreign bad: another writer's record on the
// actor's subjects (a second process, a forgery); bad does not decode.
func (s *commitScript) foreign(args []string) {
	var env events.Envelope
	var err error
	switch {
	case len(args) == 1 && args[0] == "bad":
		env = events.Envelope{ID: "bad", Type: "credits_granted", Subject: events.Subject(events.KindAgent, scriptActor, "credits_granted"),
			Data: json.RawMessage(`{"amount_micros":"x"}`)}
	case len(args) == 2 && args[0] == "grant":
		env, err = events.Encode(events.KindAgent, scriptActor, events.CreditsGranted{AmountMicros: events.Micros(s.uint(args[1]))}, events.Meta{Time: scriptNow})
	case len(args) == 2 && args[0] == "burn":
		env, err = events.Encode(events.KindAgent, scriptActor, events.CreditsBurned{AmountMicros: events.Micros(s.uint(args[1])), Reason: "forged"}, events.Meta{Time: scriptNow})
	default:
		s.fatalf("foreign grant|burn <n> | foreign bad")
	}
	if err != nil {
		s.fatalf("%v", err)
	}
	s.printf("stream at %d: foreign %s", s.store(env), strings.Join(args, " "))
}

// doRecover runs the recovery the machine asked for (or, first thing, the
// one a shell runs when its actor starts): the last snapshot saved, then
// the log after it, as the shell does.
func (s *commitScript) doRecover(err error) {
	if !s.recover && s.m.phase != unloaded {
		s.fatalf("recovery not asked for")
	}
	s.recover = false
	s.m.reset()
	if err == nil {
		from := uint64(1)
		if s.snapshot != nil {
			var snap snapshot[counter]
			if err := json.Unmarshal(s.snapshot, &snap); err != nil {
				s.fatalf("snapshot: %v", err)
			}
			for _, r := range s.log {
				if r.Seq == snap.Seq {
					s.m.restore(snap, r.Envelope)
					from = snap.Seq + 1
					s.printf("from the snapshot at %d", snap.Seq)
				}
			}
		}
		for _, r := range s.records(from) {
			s.m.fold(r)
		}
	}
	_ = s.m.recovered(err)
}

// take prints what the machine asks, takes the IO it asks for over, checks
// the invariants and prints where the machine stands.
func (s *commitScript) take() {
	rd := s.m.take()
	if rd.publish {
		s.printf("publish %v", rd.public)
	}
	if rd.admissions {
		line := fmt.Sprintf("admissions last=%d", rd.last)
		if rd.skipped != nil {
			var seqs []uint64
			for q := range rd.skipped {
				seqs = append(seqs, q)
			}
			slices.Sort(seqs)
			line += fmt.Sprintf(" skipped=%v", seqs)
		}
		s.printf("%s", line)
	}
	for _, o := range rd.replies {
		s.reply(o)
	}
	if rd.snapshot != nil {
		s.snapshot = rd.snapshot
		var snap snapshot[counter]
		if err := json.Unmarshal(rd.snapshot, &snap); err != nil {
			s.fatalf("snapshot: %v", err)
		}
		var keys []string
		for _, a := range snap.Applied {
			keys = append(keys, a.Key)
		}
		s.printf("snapshot seq=%d balance=%d marks=%v applied=%v", snap.Seq, snap.State.Balance, snap.Marks, keys)
	}
	if o := rd.append; o != nil {
		if s.order != nil {
			s.fatalf("a second append while one is in flight")
		}
		s.order = o
		s.checkChain(o)
		how := "single"
		if o.atomic {
			how = "atomic"
		}
		where := "in-turn"
		if o.beside {
			where = "beside"
		}
		var envs []string
		for _, env := range o.envs {
			e := env.Type
			if env.IdempotencyKey != "" {
				e += "(" + env.IdempotencyKey + ")"
			}
			envs = append(envs, e)
		}
		s.printf("append %s %s after=%d: %s", how, where, o.last, strings.Join(envs, " "))
	}
	if rd.recover {
		s.recover = true
		s.printf("recover")
	}
	if rd.catchUp {
		s.catchUp = true
		s.printf("catch-up")
	}
	if rd.opened {
		s.printf("opened")
	}
	s.printf("> %s", s.describe())
}

// reply prints an answer and checks it: once per call, and an event only
// once the log has acknowledged it.
func (s *commitScript) reply(o outgoing) {
	name, ok := s.calls[o.to.ch]
	if !ok {
		s.fatalf("a reply to no caller")
	}
	if s.answered[name]++; s.answered[name] > 1 && !strings.HasPrefix(name, "resume-") {
		s.fatalf("%s answered twice", name)
	}
	r := o.r
	var parts []string
	if r.result.Seq != 0 {
		// Durable: in the log, as the event answered. A first answer
		// rests on the log's acknowledgement; a replayed one may rest on
		// a recovery that found the event (its append's answer lost).
		i := slices.IndexFunc(s.log, func(rec events.Record) bool { return rec.Seq == r.result.Seq })
		switch {
		case i < 0 || r.result.Event == nil || s.log[i].Envelope.Type != r.result.Event.EventType():
			s.fatalf("%s answered with seq %d, which is not its event in the log", name, r.result.Seq)
		case !r.result.Replayed && !s.acked[r.result.Seq]:
			s.fatalf("%s answered with seq %d, which the log has not acknowledged", name, r.result.Seq)
		}
		parts = append(parts, fmt.Sprintf("seq=%d", r.result.Seq))
	}
	if r.result.Event != nil {
		parts = append(parts, r.result.Event.EventType())
	}
	if r.result.Replayed {
		parts = append(parts, "replayed")
	}
	if r.value != nil {
		parts = append(parts, fmt.Sprintf("value=%v", r.value))
	}
	if r.err != nil {
		parts = append(parts, "err="+r.err.Error())
	}
	if len(parts) == 0 {
		parts = append(parts, "ok")
	}
	s.printf("reply %s: %s", name, strings.Join(parts, " "))
}

// checkChain checks that o expects the actor's last record in the log
// unless another writer came between, and continues its hash chain.
func (s *commitScript) checkChain(o *appendOrder[counter]) {
	prev := ""
	if n := len(s.log); n > 0 && o.last == s.lastOfActor() {
		var err error
		if prev, err = chain.Hash(s.log[n-1].Envelope); err != nil {
			s.fatalf("%v", err)
		}
	}
	if o.last > s.lastOfActor() {
		s.fatalf("append expects %d beyond the log's %d", o.last, s.lastOfActor())
	}
	for _, env := range o.envs {
		if o.last == s.lastOfActor() && env.Prev != prev {
			s.fatalf("event %s names prev %q, want %q", env.Type, env.Prev, prev)
		}
		var err error
		if prev, err = chain.Hash(env); err != nil {
			s.fatalf("%v", err)
		}
	}
}

// describe is where the machine stands.
func (s *commitScript) describe() string {
	m := s.m
	d := fmt.Sprintf("%s last=%d balance=%d", m.phase, m.last, m.state.Balance)
	n := func(b *batch[counter]) string { return fmt.Sprintf("%d/%d", len(b.envs), len(b.pending)) }
	if m.inflight != nil {
		d += " inflight=" + n(m.inflight)
	}
	for _, b := range m.waiting {
		d += " waiting=" + n(b)
	}
	if m.open != nil {
		d += " open=" + n(m.open)
	}
	if m.fenced {
		var rs []string
		for k := range m.resumed {
			rs = append(rs, k)
		}
		slices.Sort(rs)
		d += fmt.Sprintf(" fenced(resumed %v)", rs)
	}
	if m.stopping {
		d += " stopping"
	}
	if len(m.held) > 0 {
		d += fmt.Sprintf(" held=%d", len(m.held))
	}
	return d
}

// finish checks that every call was answered.
func (s *commitScript) finish() {
	for _, name := range s.calls {
		if s.answered[name] == 0 {
			s.t.Errorf("%s: %s never answered", s.file, name)
		}
	}
}
