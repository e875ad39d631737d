package system

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net/http"
	"slices"

	"github.com/danielgtaylor/huma/v2"

	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/api/program"
	"github.com/agora-econ/agora/events"
)

// POST /social/spawn (SPEC.md 1.7): the caller spawns a child with a
// program (files and a command, under the rules of api/program, the
// operator's own), initial credits moved from the caller, and optionally
// the child's first bid, placed from the child's credits. The caller pays
// economy.spawn_cost (burned) on top. The Spawner (package economy) does
// the work; the route and the actor message (Spawn) share its checks.

// SpawnInput is POST /social/spawn.
type SpawnInput struct {
	Idempotency
	Body SpawnBody
}

// SpawnBody is a child: its program, its credits, its first bid.
type SpawnBody struct {
	Files          program.Files `json:"files"`
	Command        []string      `json:"command" minItems:"1" maxItems:"64" doc:"The child's program and its arguments, run from its workspace at every execution (at most 4096 bytes)."`
	InitialCredits Amount        `json:"initial_credits" doc:"Credits moved from the caller to the child (not minted). The caller also pays economy.spawn_cost (burned); it must have both available."`
	InitialBid     *SpawnBidBody `json:"initial_bid,omitempty" doc:"The child's first bid, placed from its initial credits once it exists: without one it never runs until someone bids for it."`
}

// SpawnBidBody is a child's first bid.
type SpawnBidBody struct {
	Resources map[string]Quantity `json:"resources" minProperties:"1" doc:"The bundle: units per resource. It names cpu_seconds and memory_mb, may name tokens, never attention."`
	Amount    Amount              `json:"amount" doc:"The total offered: at least the bundle's reserve price, at most the initial credits."`
	Payload   string              `json:"payload,omitempty" maxLength:"16384" doc:"Handed to the execution the bid wins (AGORA_PAYLOAD)."`
}

// SpawnOutput is POST /social/spawn.
type SpawnOutput struct{ Body SpawnReceipt }

// SpawnReceipt is a spawned child.
type SpawnReceipt struct {
	AgentID string `json:"agent_id" doc:"The child's id: the same for a retry with the same Idempotency-Key."`
	Status  string `json:"status" enum:"alive,dead,spawning" doc:"alive: the child exists (and its first bid is placed); spawning: the spawn is recorded and paid, and the child is being created (it will be, exactly once); dead: a retry's answer for a child that has died since."`
	BidID   string `json:"bid_id,omitempty" doc:"The child's first bid, if one was given."`
}

// The statuses of a spawn's receipt: the child's own (alive, or dead
// when a retry comes after its death), or SpawnStatusSpawning while the
// spawn manager has yet to create it.
const (
	SpawnStatusAlive    = "alive"
	SpawnStatusDead     = "dead"
	SpawnStatusSpawning = "spawning"
)

// Spawn spawns a child of the caller (POST /social/spawn). Files are the
// child's workspace (path -> text); the Python client helper is added
// unless a file has its path. Value: SpawnReceipt.
type Spawn struct {
	Caller
	Key                  string
	Files                map[string]string
	Command              []string
	InitialCreditsMicros events.Micros
	InitialBid           *SpawnBid
}

// SpawnBid is a child's first bid.
type SpawnBid struct {
	Resources    map[string]events.Units
	AmountMicros events.Micros
	Payload      string
}

// SpawnRequest is a spawn as the Spawner takes it: checked as far as the
// request alone can tell (the program's rules, the amounts, the first
// bid's shape and that the initial credits pay for it).
type SpawnRequest struct {
	// ChildID is the child's id, chosen by the service: derived from the
	// caller and its idempotency key, so that a retry names the same
	// child.
	ChildID              string
	Files                map[string]string
	Command              []string
	InitialCreditsMicros events.Micros
	InitialBid           *SpawnBid
}

func (s *service) registerSpawn(api huma.API) {
	huma.Register(api, operation(huma.Operation{
		OperationID: "spawn", Method: http.MethodPost, Path: "/social/spawn", Tags: []string{"social"},
		Summary: "Spawn a child: a program, initial credits from the caller, optionally its first bid",
		Description: "The caller pays economy.spawn_cost (burned) and the initial credits (moved to the child). " +
			"Too few credits, or economy.max_agents living agents: 409, nothing charged.",
		MaxBodyBytes: SpawnBodyBytesMax,
	}, http.StatusBadRequest, http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusServiceUnavailable), s.spawnRoute)
}

func (s *service) spawnRoute(ctx context.Context, in *SpawnInput) (*SpawnOutput, error) {
	call := Spawn{Caller: callerOf(ctx).call(), Key: in.Key, Files: in.Body.Files.Map(), Command: slices.Clone(in.Body.Command),
		InitialCreditsMicros: in.Body.InitialCredits.Micros()}
	if bid := in.Body.InitialBid; bid != nil {
		call.InitialBid = &SpawnBid{Resources: make(map[string]events.Units, len(bid.Resources)), AmountMicros: bid.Amount.Micros(),
			Payload: bid.Payload}
		for name, q := range bid.Resources {
			call.InitialBid.Resources[name] = q.Units()
		}
	}
	r, err := serve[SpawnReceipt](ctx, s, call)
	return &SpawnOutput{Body: r}, err
}

// Resolve reports what is wrong with the child that the schema cannot
// state, each problem at its field's location, before anything is done.
func (b *SpawnBody) Resolve(_ huma.Context, prefix *huma.PathBuffer) []error {
	var errs []error
	// Locations are joined by hand: a file's path may hold the '.' and
	// '[' that the PathBuffer would pop at.
	base := prefix.String()
	for _, p := range spawnProblems(b.Files, b.Command, b.InitialCredits.Micros(), b.bid()) {
		errs = append(errs, &huma.ErrorDetail{Location: base + "." + p.Location, Message: p.Message, Value: p.Value})
	}
	return errs
}

// bid is the first bid's bundle and amount, for the checks.
func (b *SpawnBody) bid() *SpawnBid {
	if b.InitialBid == nil {
		return nil
	}
	bid := &SpawnBid{Resources: map[string]events.Units{}, AmountMicros: b.InitialBid.Amount.Micros()}
	for name, q := range b.InitialBid.Resources {
		bid.Resources[name] = q.Units()
	}
	return bid
}

// spawnProblems are the checks of a spawn beyond its schema: the
// program's rules, the first bid's bundle, and that the initial credits
// pay for the first bid (it is placed from them). An amount the schema
// refused (0) is not compared.
func spawnProblems(files program.Files, command []string, initial events.Micros, bid *SpawnBid) []program.Problem {
	problems := program.Check(files, command)
	if bid == nil {
		return problems
	}
	problems = append(problems, program.CheckBundle("initial_bid", slices.Collect(maps.Keys(bid.Resources)))...)
	if initial > 0 && bid.AmountMicros > initial {
		problems = append(problems, program.Problem{Location: "initial_bid.amount",
			Message: fmt.Sprintf("%s is above the initial credits of %s: the first bid is placed from them", bid.AmountMicros, initial)})
	}
	return problems
}

// validateSpawn checks a spawn as the HTTP API's schema and Resolve do,
// for a call that passed neither (an actor message); the first problem
// is the answer.
func validateSpawn(m Spawn) error {
	files := program.NewFiles(m.Files)
	problems := program.Counts(files, m.Command)
	problems = append(problems, spawnProblems(files, m.Command, m.InitialCreditsMicros, m.InitialBid)...)
	if len(problems) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidCall, problems[0])
	}
	if err := events.ValidatePositive(m.InitialCreditsMicros); err != nil {
		return field("initial_credits", err)
	}
	if b := m.InitialBid; b != nil {
		if err := validTerms(events.BidTerms{Resources: b.Resources}); err != nil {
			return field("initial_bid", err)
		}
		if err := events.ValidatePositive(b.AmountMicros); err != nil {
			return field("initial_bid.amount", err)
		}
		if len(b.Payload) > clearing.PayloadBytesMax {
			return fmt.Errorf("%w: initial_bid.payload: %d bytes, at most %d are allowed", ErrInvalidCall, len(b.Payload), clearing.PayloadBytesMax)
		}
	}
	return keyOf(m.Key)
}

func (s *service) spawn(ctx context.Context, c caller, m Spawn) (SpawnReceipt, error) {
	parent := c.ticket.AgentID
	key, err := commandKey(m.Key, "spawn", parent)
	if err != nil {
		return SpawnReceipt{}, err
	}
	r, err := s.deps.Spawner.Spawn(ctx, parent, key, SpawnRequest{ChildID: ChildIDFor(key), Files: m.Files,
		Command: slices.Clone(m.Command), InitialCreditsMicros: m.InitialCreditsMicros, InitialBid: m.InitialBid})
	if err != nil {
		return SpawnReceipt{}, err
	}
	s.settle(ctx)
	return r, nil
}

// ChildIDFor is the id of the child a spawn with command key key names:
// "c-" and 32 hex digits of the key's SHA-256. The key is scoped by the
// parent (commandKey), so two parents' keys never name one child, and a
// retry with the same Idempotency-Key names the same child; a call
// without a key has a fresh key, hence a fresh child.
func ChildIDFor(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "c-" + hex.EncodeToString(sum[:16])
}
