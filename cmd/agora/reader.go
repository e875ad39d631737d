package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/agora-econ/agora/economy"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/natslog"
	ecofold "github.com/agora-econ/agora/projections/economy"
)

// openReader opens the log for a one-shot command. With --nats-url it reads
// through that server. Otherwise it starts the embedded server on the data
// directory on a free port; when a running economy holds the directory, it
// reads through that economy's NATS client port instead.
func openReader(ctx context.Context, cmd *cobra.Command, f *logFlags) (*economy.Node, error) {
	cfg, err := f.load(cmd)
	if err != nil {
		return nil, exitError{2, err}
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if cfg.Nats.Embedded() {
		if _, err := os.Stat(cfg.Data.Dir); err != nil {
			return nil, exitError{2, fmt.Errorf("no economy in %s: %w (give --data or --nats-url)", cfg.Data.Dir, err)}
		}
	}
	n, err := economy.OpenNode(ctx, cfg, economy.NodeOptions{RandomPort: true, ReadOnly: true}, logger)
	if errors.Is(err, economy.ErrDataInUse) {
		live := cfg
		live.Nats.URL = fmt.Sprintf("nats://%s:%d", cfg.Nats.Host, cfg.Nats.Port)
		if b, rerr := os.ReadFile(filepath.Join(cfg.Data.Dir, economy.URLFile)); rerr == nil && len(b) > 0 {
			live.Nats.URL = strings.TrimSpace(string(b))
		}
		// Agora's user, whose password the economy keeps in the data
		// directory. Without the file (an economy from before it), or
		// without the right to read it (another OS user), as an observer,
		// which may read all this needs. A file others may read is an
		// error to fix, not a reason to read less.
		switch pw, perr := natslog.ReadPassword(cfg.Data.Dir); {
		case perr == nil:
			live.Nats.User, live.Nats.Password = natslog.AgoraUser, pw
		case !errors.Is(perr, fs.ErrNotExist) && !errors.Is(perr, fs.ErrPermission):
			return nil, perr
		}
		n, err = economy.OpenNode(ctx, live, economy.NodeOptions{ReadOnly: true}, logger)
		if err != nil {
			return nil, fmt.Errorf("%s is in use by a running economy, and reading through its NATS server at %s failed: %w", cfg.Data.Dir, live.Nats.URL, err)
		}
	}
	return n, err
}

// bound is where a prefix of the log ends: a stream sequence or a time.
type bound struct {
	seq  uint64
	at   time.Time
	text string // the time as given
}

// String is the bound as --until gave it.
func (b bound) String() string {
	if b.seq != 0 {
		return strconv.FormatUint(b.seq, 10)
	}
	return b.text
}

// parseUntil reads --until: a stream sequence or an RFC 3339 time.
func parseUntil(s string) (bound, error) {
	if s == "" {
		return bound{}, nil
	}
	if seq, err := strconv.ParseUint(s, 10, 64); err == nil {
		if seq == 0 {
			return bound{}, errors.New("--until: sequences start at 1")
		}
		return bound{seq: seq}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return bound{}, fmt.Errorf("--until %q is neither a stream sequence nor an RFC 3339 time (2026-11-25T20:00:00Z)", s)
	}
	return bound{at: t, text: s}, nil
}

// errStop ends a read at the bound.
var errStop = errors.New("stop")

// includes reports whether r is within the bound.
func (b bound) includes(r events.Record) bool {
	if b.seq != 0 && r.Seq > b.seq {
		return false
	}
	if !b.at.IsZero() && r.Envelope.Time.After(b.at) {
		return false
	}
	return true
}

// readPrefix calls fn for every record within the bound, reporting progress
// on progress (nil: none) for long reads. A sequence bound is read up to
// that record and not one further: a bad record after the prefix is no
// business of a read of the prefix. (A time bound must read the record
// after it to see its time.) A bound beyond the log's last record is
// errPastEnd, naming where the log ends: the state there is not the state
// asked for.
func readPrefix(ctx context.Context, log events.Log, until bound, progress io.Writer, fn func(events.Record) error) error {
	return readPrefixBy(ctx, log, log.Read, until, progress, fn)
}

// readLog is a whole-log read: events.Log.Read, or events.ScanLog's.
type readLog func(ctx context.Context, filter string, from uint64, fn func(events.Record) error) error

// readPrefixBy is readPrefix with the read it makes: the audit scans
// (events.ScanLog) and decodes on the goroutine that reads, overlapping
// its fold with the read itself (economy.ReadAhead), where the other
// readers fold on the reading goroutine and leave the decoding to the
// log's workers.
func readPrefixBy(ctx context.Context, log events.Log, read readLog, until bound, progress io.Writer, fn func(events.Record) error) error {
	last, err := log.LastSeq(ctx)
	if err != nil {
		return err
	}
	if until.seq > last || last == 0 && !until.at.IsZero() {
		return pastEnd(ctx, log, until, last)
	}
	if until.seq != 0 {
		last = until.seq
	}
	started, shown := time.Now(), time.Now()
	var end events.Record // the last record read
	err = read(ctx, events.SubjectRoot+".>", 1, func(r events.Record) error {
		if !until.includes(r) {
			return errStop
		}
		end = r
		if progress != nil && time.Since(shown) > time.Second {
			shown = time.Now()
			rate := float64(r.Seq) / time.Since(started).Seconds()
			fmt.Fprintf(progress, "\r%d / %d events (%.0f/s)   ", r.Seq, last, rate)
		}
		if err := fn(r); err != nil {
			return err
		}
		if until.seq != 0 && r.Seq >= until.seq {
			return errStop
		}
		return nil
	})
	if progress != nil && time.Since(started) > time.Second {
		fmt.Fprintln(progress)
	}
	if errors.Is(err, errStop) {
		return nil
	}
	if err == nil && !until.at.IsZero() && until.at.After(end.Envelope.Time) {
		return exitError{2, fmt.Errorf("--until %s: %w", until, endOf(end))}
	}
	return err
}

// errPastEnd is a bound beyond the log's last record.
var errPastEnd = errors.New("past the end of the log")

// pastEnd is the error of a bound beyond last, naming the last record and
// its time.
func pastEnd(ctx context.Context, log events.Log, until bound, last uint64) error {
	if last == 0 {
		return exitError{2, fmt.Errorf("--until %s: %w; the log is empty", until, errPastEnd)}
	}
	var end events.Record
	err := log.Read(ctx, events.SubjectRoot+".>", last, func(r events.Record) error {
		end = r
		return errStop
	})
	if err != nil && !errors.Is(err, errStop) {
		return err
	}
	return exitError{2, fmt.Errorf("--until %s: %w", until, endOf(end))}
}

// endOf says where the log ends, last being its last record.
func endOf(last events.Record) error {
	return fmt.Errorf("%w; the log ends at sequence %d (%s)", errPastEnd, last.Seq, last.Envelope.Time.UTC().Format(time.RFC3339Nano))
}

// facts passes fn only the records that are facts of the economy: a
// one-shot read model skips what the running one skips. It folds the
// economy beside fn (projections/economy, the actors' own Admit), which
// alone can tell an overspend from a payment; a view alone can only tell
// a record that does not decode (and says so: an events.BadRecord, also
// skipped here).
func facts(fn func(events.Record) error) func(events.Record) error {
	eco := ecofold.New()
	return func(r events.Record) error {
		skipped := len(eco.Skipped)
		_ = eco.Apply(r) // a broken invariant is the audit's to report
		if len(eco.Skipped) > skipped {
			return nil
		}
		if err := fn(r); err != nil && !errors.Is(err, events.ErrBadRecord) {
			return err
		}
		return nil
	}
}

// progressWriter is stderr when it is a terminal, else nothing: progress
// lines would only clutter a log file.
func progressWriter() io.Writer {
	if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		return os.Stderr
	}
	return nil
}
