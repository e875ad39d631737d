package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/agora-econ/agora/actors/executor/sandbox"
)

// execRunsMax bounds --runs: a sandboxed execution takes milliseconds.
const execRunsMax = 100_000

// execTargetRatio is the sandbox's target: a sandboxed Python execution
// takes at most this many times the same execution run directly.
const execTargetRatio = 1.5

// ExecOptions are the parameters of `agora bench exec`.
type ExecOptions struct {
	Runs int
	// Workers, when above 0, also runs each program through the work
	// queue to that many in-process workers, against the same programs
	// run that many at a time by the economy node itself.
	Workers    int
	CPUProfile string    // profile of the measured runs, when set
	Progress   io.Writer // phase lines; nil for none
}

func (o ExecOptions) Validate() error {
	if o.Runs < 1 || o.Runs > execRunsMax {
		return fmt.Errorf("--runs must be in [1, %d], got %d", execRunsMax, o.Runs)
	}
	if o.Workers < 0 || o.Workers > execWorkersMax {
		return fmt.Errorf("--workers must be in [0, %d], got %d", execWorkersMax, o.Workers)
	}
	return nil
}

// ExecReport is what `agora bench exec --json` prints.
type ExecReport struct {
	Runs     int           `json:"runs"`
	Isolated bool          `json:"isolated"` // through bwrap
	Warning  string        `json:"warning,omitempty"`
	Programs []execProgram `json:"programs"`
	// Queue is each program through the work queue (--workers).
	Queue []execQueue `json:"queue,omitempty"`
}

// execProgram is one trivial program, run both ways.
type execProgram struct {
	Name        string     `json:"name"`
	Command     []string   `json:"command"`
	Direct      execFigure `json:"direct"`
	Sandboxed   execFigure `json:"sandboxed"`
	Ratio       float64    `json:"ratio_sandboxed_to_direct"`
	TargetRatio float64    `json:"target_ratio,omitempty"`
}

// execFigure is one way of running a program, Runs times.
type execFigure struct {
	Latency       latencies `json:"latency"`
	MeanMillis    float64   `json:"mean_ms"`
	PerSecond     float64   `json:"executions_per_second"`
	SecondsInRuns float64   `json:"seconds"`
}

// execPrograms are the trivial programs: the sandbox alone, and a Python
// start-up.
func execPrograms() []execProgram {
	progs := []execProgram{{Name: "true", Command: []string{"/bin/true"}}}
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		progs = append(progs, execProgram{Name: "python3", Command: []string{"/usr/bin/python3", "-c", "pass"}, TargetRatio: execTargetRatio})
	}
	return progs
}

func RunExec(ctx context.Context, o ExecOptions) (ExecReport, error) {
	sb, warning, err := sandbox.New()
	if err != nil {
		return ExecReport{}, err
	}
	defer sb.Close()
	rep := ExecReport{Runs: o.Runs, Isolated: sb.Isolated(), Warning: warning}
	if warning != "" {
		progressf(o.Progress, "WARNING: %s", warning)
	}
	dir, remove, err := benchDir()
	if err != nil {
		return rep, err
	}
	defer remove()
	socket, err := execSocket(sb, dir)
	if err != nil {
		return rep, err
	}
	defer socket.Close()
	err = profile(o.CPUProfile, func() error {
		for _, p := range execPrograms() {
			progressf(o.Progress, "%s: %d runs directly and %d in the sandbox", p.Name, o.Runs, o.Runs)
			if err := measureExec(ctx, sb, dir, socket.Addr().String(), o.Runs, &p); err != nil {
				return fmt.Errorf("%s: %w", p.Name, err)
			}
			rep.Programs = append(rep.Programs, p)
			if o.Workers > 0 {
				progressf(o.Progress, "%s: %d runs by the node itself and %d through the work queue, %d at a time",
					p.Name, o.Runs, o.Runs, o.Workers)
				qf, err := measureQueue(ctx, sb, dir, socket.Addr().String(), o.Runs, o.Workers, p)
				if err != nil {
					return fmt.Errorf("%s through the queue: %w", p.Name, err)
				}
				rep.Queue = append(rep.Queue, qf)
			}
		}
		return nil
	})
	return rep, err
}

// execSocket is a service socket for the sandboxed runs, as the executor
// gives every execution one (the sandbox binds it in: a mount more). No
// program here connects to it.
func execSocket(sb *sandbox.Sandbox, dir string) (net.Listener, error) {
	ln, err := net.Listen("unix", filepath.Join(dir, "agora.sock"))
	if err != nil {
		return nil, fmt.Errorf("bench: service socket: %w", err)
	}
	if err := sb.GrantSocket(ln.Addr().String()); err != nil {
		_ = ln.Close()
		return nil, err
	}
	return ln, nil
}

// measureExec runs p runs times each way, alternating which goes first,
// after one unmeasured run each way (page cache, the sandbox's first uid).
// Both ways get the same environment and have their output (stdout and
// stderr, through one pipe) collected, as an execution's is.
func measureExec(ctx context.Context, sb *sandbox.Sandbox, dir, socket string, runs int, p *execProgram) error {
	workspace, err := os.MkdirTemp(dir, p.Name+"-")
	if err != nil {
		return err
	}
	spec := sandbox.Spec{Workspace: workspace, Command: p.Command, Socket: socket,
		Env:        map[string]string{"AGORA_URL": "unix://" + sb.SocketPath(socket)},
		CPUSeconds: 10, MemoryMB: 256, WorkspaceMB: 256, Processes: 16, Timeout: time.Minute}
	var output bytes.Buffer
	direct := func() error {
		cmd := exec.CommandContext(ctx, p.Command[0], p.Command[1:]...)
		cmd.Dir = workspace
		cmd.Env = []string{"AGORA_URL=unix://" + socket, "HOME=" + workspace, "PATH=" + sandbox.SandboxPATH}
		output.Reset()
		cmd.Stdout, cmd.Stderr = &output, &output
		return cmd.Run()
	}
	sandboxed := func() error {
		res, err := sb.Run(ctx, spec)
		if err == nil && (res.Cause != sandbox.CauseExited || res.ExitCode != 0) {
			err = fmt.Errorf("sandboxed run ended with %s", res)
		}
		return err
	}
	if err := errors.Join(direct(), sandboxed()); err != nil {
		return err
	}
	var directTimes, sandboxedTimes []time.Duration
	timed := func(f func() error, into *[]time.Duration) error {
		began := time.Now()
		err := f()
		*into = append(*into, time.Since(began))
		return err
	}
	for i := range runs {
		first, second := func() error { return timed(direct, &directTimes) }, func() error { return timed(sandboxed, &sandboxedTimes) }
		if i%2 == 1 {
			first, second = second, first
		}
		if err := first(); err != nil {
			return err
		}
		if err := second(); err != nil {
			return err
		}
	}
	p.Direct, p.Sandboxed = execFigures(directTimes), execFigures(sandboxedTimes)
	if p.Direct.MeanMillis > 0 {
		p.Ratio = p.Sandboxed.MeanMillis / p.Direct.MeanMillis
	}
	return nil
}

func execFigures(ds []time.Duration) execFigure {
	var total time.Duration
	for _, d := range ds {
		total += d
	}
	f := execFigure{Latency: summarise(slices.Clone(ds)), SecondsInRuns: total.Seconds()}
	if len(ds) > 0 && total > 0 {
		f.MeanMillis = float64(total) / float64(len(ds)) / float64(time.Millisecond)
		f.PerSecond = float64(len(ds)) / total.Seconds()
	}
	return f
}

func (r ExecReport) Print(out io.Writer) error {
	isolation := "bwrap"
	if !r.Isolated {
		isolation = "WITHOUT bwrap (rlimits and a process group only)"
	}
	fmt.Fprintf(out, "agora bench exec: %d runs of each program, directly and in the sandbox (%s)\n\n", r.Runs, isolation)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROGRAM\tRUN\t P50 MS\t P99 MS\t MAX MS\tMEAN MS\tPER SECOND")
	for _, p := range r.Programs {
		for _, row := range []struct {
			how string
			f   execFigure
		}{{"direct", p.Direct}, {"sandboxed", p.Sandboxed}} {
			fmt.Fprintf(tw, "%s\t%s\t%7.2f\t%7.2f\t%7.2f\t%7.2f\t%10.1f\n", p.Name, row.how,
				row.f.Latency.P50Millis, row.f.Latency.P99Millis, row.f.Latency.MaxMillis, row.f.MeanMillis, row.f.PerSecond)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(out, "\nratio sandboxed / direct (mean time of one execution)")
	for _, p := range r.Programs {
		verdict := ""
		if p.TargetRatio > 0 {
			verdict = "within the target of"
			if p.Ratio > p.TargetRatio {
				verdict = "ABOVE the target of"
			}
			verdict = fmt.Sprintf("   %s %.1f", verdict, p.TargetRatio)
		}
		fmt.Fprintf(out, "  %-8s %6.2f   (+%.2f ms an execution)%s\n", p.Name, p.Ratio, p.Sandboxed.MeanMillis-p.Direct.MeanMillis, verdict)
	}
	if len(r.Queue) > 0 {
		if err := r.printQueue(out); err != nil {
			return err
		}
	}
	if r.Warning != "" {
		fmt.Fprintf(out, "\nWARNING: %s\n", r.Warning)
	}
	return nil
}

// printQueue prints the runs through the work queue against the node's own.
func (r ExecReport) printQueue(out io.Writer) error {
	fmt.Fprintf(out, "\nthrough the work queue to %d in-process workers, against the node running them itself, %d at a time\n\n",
		r.Queue[0].Workers, r.Queue[0].Workers)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROGRAM\tRUN\t P50 MS\t P99 MS\t MAX MS\tPER SECOND")
	for _, q := range r.Queue {
		for _, row := range []struct {
			how string
			f   execFigure
		}{{"local", q.Local}, {"queued", q.Queued}} {
			fmt.Fprintf(tw, "%s\t%s\t%7.2f\t%7.2f\t%7.2f\t%10.1f\n", q.Name, row.how,
				row.f.Latency.P50Millis, row.f.Latency.P99Millis, row.f.Latency.MaxMillis, row.f.PerSecond)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(out, "\nratio queued / local (executions per second)")
	for _, q := range r.Queue {
		fmt.Fprintf(out, "  %-8s %6.2f   (+%.2f ms an execution at p50)\n", q.Name, q.Ratio, q.Queued.Latency.P50Millis-q.Local.Latency.P50Millis)
	}
	fmt.Fprintln(out, "\nOn one machine the workers share its cores with the node and the NATS server: this is the cost of")
	fmt.Fprintln(out, "the queue (publish, fetch, workspace from and back to the object store, result), not how workers on")
	fmt.Fprintln(out, "other machines scale.")
	return nil
}
