package operator

import (
	"time"

	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/api/problem"
	"github.com/agora-econ/agora/api/program"
)

// Limits of the operator API, in one place. A new agent's program (its
// files, their paths and sizes, its command) is bounded by api/program's
// limits, the same for a spawned child.
const (
	// PayloadBytesMax bounds the first bid's payload, as the book does.
	PayloadBytesMax = clearing.PayloadBytesMax

	// CreateBodyBytesMax bounds the body of POST /admin/agents: the files
	// at their largest, with room for JSON's escaping of their contents
	// (a quote or a newline takes two bytes), and the rest of the request.
	CreateBodyBytesMax = 2*program.FilesBytesMax + BodyBytesMax
	// BodyBytesMax bounds the body of every other call.
	BodyBytesMax = 64 << 10
	// BodyReadTimeout bounds reading a request body; a new agent's files
	// may take a while on a slow link, a stalled client may not hold a
	// handler for ever.
	BodyReadTimeout = 60 * time.Second

	// IdempotencyKeyLengthMax bounds the Idempotency-Key header.
	IdempotencyKeyLengthMax = 128
	// AgentsLimitDefault and AgentsLimitMax bound a page of GET
	// /admin/agents.
	AgentsLimitDefault = 100
	AgentsLimitMax     = 1000
	// ChildrenListedMax bounds the children GET /admin/agents/{id} lists
	// (the oldest first; children_count counts them all): an agent may
	// spawn without end as its children die, and its record must stay
	// one answer. The whole family is in GET /admin/agents, a parent per
	// line.
	ChildrenListedMax = 1000

	// TokenBytes is the randomness of a generated operator token (base64url:
	// 43 characters).
	TokenBytes = 32
	// TokenLengthMin and TokenLengthMax bound an operator token, generated
	// or configured.
	TokenLengthMin = 16
	TokenLengthMax = 512

	// ReadYourWritesTimeout bounds how long a creation waits for the read
	// models to include it before answering; the creation is durable
	// either way.
	ReadYourWritesTimeout = 2 * time.Second
	// ValueEchoLengthMax bounds the rejected value a problem echoes back
	// (api/problem shortens every echo to it).
	ValueEchoLengthMax = problem.ValueEchoLengthMax
)
