package system

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"unicode/utf8"

	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/events"
)

// validate checks a call as the HTTP API's schema checks a request: ids,
// amounts, page limits, lengths, keys. service.answer runs it on every
// call, whichever door it came by (one sent as a message passed no
// schema), and the client (client.go) before it sends one, so a bad call
// is refused with the same typed error whichever way it goes, and changes
// nothing.
func validate(call Call) error {
	if err, ok := validateMessages(call); ok {
		return err
	}
	if err, ok := validateAttention(call); ok {
		return err
	}
	switch m := call.(type) {
	case Transfer:
		return firstError(
			field("to_agent_id", events.ValidateID(m.ToAgentID)),
			field("amount", events.ValidatePositive(m.AmountMicros)),
			memoLength(m.Memo), keyOf(m.Key))
	case GetHistory:
		return pageLimit("limit", m.Limit, HistoryLimitMax)
	case ListBids:
		return firstError(optionalID("resource", m.Resource), pageLimit("limit", m.Limit, BidsLimitMax))
	case PlaceBid:
		return firstError(validTerms(m.Terms), field("amount", events.ValidatePositive(m.AmountMicros)), keyOf(m.Key))
	case RaiseBid:
		return firstError(field("bid_id", events.ValidateID(m.BidID)),
			field("amount", events.ValidatePositive(m.AmountMicros)), keyOf(m.Key))
	case WithdrawBid:
		return firstError(field("bid_id", events.ValidateID(m.BidID)), keyOf(m.Key))
	case ListAgents:
		return firstError(optionalID("after", m.After), pageLimit("limit", m.Limit, AgentsLimitMax))
	case Infer:
		return chatShape(m.Request)
	case Spawn:
		return validateSpawn(m)
	}
	return nil
}

// validTerms checks a bundle as the HTTP API's schema does: at least one
// resource, each named by a valid id with a positive quantity, and a valid
// beneficiary if any. The book checks the rest (the resources it clears,
// the reserve, supply, the payload's size).
func validTerms(t events.BidTerms) error {
	if len(t.Resources) == 0 {
		return fmt.Errorf("%w: resources: a bundle names at least one resource", ErrInvalidCall)
	}
	for _, name := range slices.Sorted(maps.Keys(t.Resources)) {
		if err := events.ValidateID(name); err != nil {
			return fmt.Errorf("resources: %w", err)
		}
		if q := t.Resources[name]; q <= 0 {
			return fmt.Errorf("%w: resources.%s: %s is not above 0", clearing.ErrInvalidBundle, name, q)
		}
	}
	return optionalID("beneficiary_id", t.BeneficiaryID)
}

// chatShape checks what the schema of POST /intelligence/inference
// checks: a JSON object with at least one message, not streamed (answers
// are metered from their usage).
func chatShape(raw []byte) error {
	var shape struct {
		Messages []json.RawMessage `json:"messages"`
		Stream   bool              `json:"stream"`
	}
	switch err := json.Unmarshal(raw, &shape); {
	case err != nil:
		return fmt.Errorf("%w: body: %w", ErrInvalidCall, err)
	case len(shape.Messages) == 0:
		return fmt.Errorf("%w: body.messages: at least one message is required", ErrInvalidCall)
	case shape.Stream:
		return fmt.Errorf("%w: body.stream: streaming is not supported: answers are metered from their usage", ErrInvalidCall)
	}
	return nil
}

func memoLength(memo string) error {
	if n := utf8.RuneCountInString(memo); n > MemoLengthMax {
		return fmt.Errorf("%w: memo: %d characters, at most %d are allowed", ErrInvalidCall, n, MemoLengthMax)
	}
	return nil
}

// keyOf checks an idempotency key; empty means none.
func keyOf(key string) error {
	if key == "" {
		return nil
	}
	return validateKey(key)
}

// pageLimit checks a page's size: 0 (the default) or 1..most.
func pageLimit(name string, limit, most int) error {
	if limit < 0 || limit > most {
		return fmt.Errorf("%w: %s: %d is not within 1 to %d", ErrInvalidCall, name, limit, most)
	}
	return nil
}

func optionalID(name, id string) error {
	if id == "" {
		return nil
	}
	return field(name, events.ValidateID(id))
}

// field names the field a validation error is about.
func field(name string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", name, err)
}

func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
