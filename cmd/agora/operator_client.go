package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/agora-econ/agora/api/operator/opclient"
	"github.com/agora-econ/agora/economy/config"
)

// apiURLFile is where a running economy writes the address of its HTTP
// APIs, so that one-shot commands find it whatever --listen was.
const apiURLFile = "http.url"

// operatorTokenFile is the operator token `agora run` creates at first
// start (api/operator.LoadOrCreateToken).
const operatorTokenFile = "operator.token"

// operatorRequestTimeout bounds one call of a one-shot command.
const operatorRequestTimeout = 30 * time.Second

// errNoServer says no economy answers at the API address: the command
// reads the log instead.
var errNoServer = errors.New("no running economy answers")

// apiFlags are the flags of the commands that ask a running economy first.
type apiFlags struct {
	logFlags
	url string
}

func (f *apiFlags) register(cmd *cobra.Command) {
	f.logFlags.register(cmd)
	cmd.Flags().StringVar(&f.url, "url", "", "the running economy's APIs (default: the address it wrote in the data directory, else http://127.0.0.1:8080)")
}

// operatorClient calls the operator API of a running economy.
type operatorClient struct {
	base  string
	token string
	http  *http.Client
	// explicit: the user named the economy with --url, and wants that
	// one's answer, not the log read in its place.
	explicit bool
}

// operator returns a client of the running economy's operator API, or
// errNoServer when the data directory shows no economy ever served one
// (no token) and no --url names one. When --url names one, no token is an
// error, not errNoServer.
func (f *apiFlags) operator(cmd *cobra.Command) (*operatorClient, config.Config, error) {
	cfg, err := f.load(cmd)
	if err != nil {
		return nil, cfg, exitError{2, err}
	}
	explicit := cmd.Flags().Changed("url")
	base := f.url
	if base == "" {
		base = "http://" + cfg.Server.Listen
		if b, err := os.ReadFile(filepath.Join(cfg.Data.Dir, apiURLFile)); err == nil && len(b) > 0 {
			base = strings.TrimSpace(string(b))
		}
	}
	if _, err := opclient.ParseBase(base); err != nil {
		return nil, cfg, exitError{2, fmt.Errorf("--url %q is not an http(s) URL", base)}
	}
	token := cfg.Server.OperatorToken
	if token == "" {
		path := filepath.Join(cfg.Data.Dir, operatorTokenFile)
		b, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) && explicit {
			return nil, cfg, fmt.Errorf("--url %s: no operator token to call it with (%s does not exist; give the --data of that economy, or server.operator_token)", base, path)
		}
		if errors.Is(err, os.ErrNotExist) {
			return nil, cfg, errNoServer
		}
		if err != nil {
			return nil, cfg, fmt.Errorf("read the operator token: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	return &operatorClient{base: strings.TrimRight(base, "/"), token: token, explicit: explicit,
		http: &http.Client{Timeout: operatorRequestTimeout}}, cfg, nil
}

// ask gets path from the running economy's operator API into out, and
// reports whether one answered. It reports false, and no error, when none
// answers at the default address: the command then reads the log (or the
// configuration) itself. An economy named by --url that does not answer
// is an error naming it, as is any problem the API answers.
func (f *apiFlags) ask(cmd *cobra.Command, path string, out any) (bool, error) {
	c, _, err := f.operator(cmd)
	if err == nil {
		err = c.get(cmd.Context(), path, out)
	}
	if errors.Is(err, errNoServer) {
		return false, nil
	}
	return err == nil, err
}

// noServer is the error of a refused connection: errNoServer, or, when
// the user named the economy with --url, an error naming it.
func (c *operatorClient) noServer() error {
	if c.explicit {
		return fmt.Errorf("--url %s: no running economy answers there (connection refused)", c.base)
	}
	return errNoServer
}

// get asks path and decodes the answer into out. It returns errNoServer
// when nothing listens there (an error naming the URL when --url gave
// it), and the API's problem detail otherwise.
func (c *operatorClient) get(ctx context.Context, path string, out any) error {
	return c.request(ctx, http.MethodGet, path, nil, out)
}

// request is get with any method and, when in is not nil, a JSON body.
func (c *operatorClient) request(ctx context.Context, method, path string, in, out any) error {
	a, err := c.call(ctx, method, path, "", in)
	if err != nil {
		return err
	}
	if a.Status != http.StatusOK {
		p, _ := a.Problem()
		if a.Status == http.StatusNotFound && p.Detail != "" {
			return exitError{1, errors.New(p.Detail)}
		}
		return fmt.Errorf("%s%s: %d %s: %s", c.base, path, a.Status, p.Title, p.Detail)
	}
	return json.Unmarshal(a.Body, out)
}

// errNoAnswer marks an error of call after which the call may be sent
// again: the connection broke after it was made.
type errNoAnswer struct{ error }

func (e errNoAnswer) Unwrap() error { return e.error }

// call makes one call through opclient. Its errors: c.noServer() when
// nothing listens there; an errNoAnswer naming the economy when the
// connection broke, or with the read's own error when the answer was cut.
func (c *operatorClient) call(ctx context.Context, method, path, key string, in any) (*opclient.Answer, error) {
	api := opclient.Client{Base: c.base, Token: c.token, HTTP: c.http}
	a, err := api.Call(ctx, method, path, key, in)
	if !errors.Is(err, opclient.ErrNotAnswering) {
		return a, err
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return nil, c.noServer()
	}
	cause := errors.Unwrap(err)
	var ue *url.Error
	if errors.As(cause, &ue) {
		return nil, errNoAnswer{fmt.Errorf("%s: %w", c.base, cause)}
	}
	return nil, errNoAnswer{cause}
}

// postAttempts bounds how often a command is sent when the economy
// answers 503 or the connection fails after it was made; each attempt
// carries the same Idempotency-Key, so the command applies once.
const postAttempts = 3

// postRetryPause is the pause between two attempts.
const postRetryPause = time.Second

// post sends body to path with key as its Idempotency-Key and decodes the
// answer into out. It returns errNoServer when nothing listens there, and
// an exitError carrying the API's problem detail when the API refuses.
func (c *operatorClient) post(ctx context.Context, path, key string, body, out any) error {
	var last error
	for attempt := range postAttempts {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(postRetryPause):
			}
		}
		a, err := c.call(ctx, http.MethodPost, path, key, body)
		var again errNoAnswer
		if errors.As(err, &again) {
			last = again.error
			continue
		}
		if err != nil {
			return err
		}
		if a.Status == http.StatusOK {
			return json.Unmarshal(a.Body, out)
		}
		p, ok := a.Problem()
		if !ok || p.Detail == "" {
			// Not the API's problem (a proxy's page, say): say where.
			p.Title, p.Detail = http.StatusText(a.Status), c.base+path+" answered "+a.StatusLine
		}
		last = exitError{1, fmt.Errorf("%s (%d %s)", p.Detail, a.Status, p.Title)}
		if a.Status != http.StatusServiceUnavailable {
			return last
		}
	}
	return last
}
