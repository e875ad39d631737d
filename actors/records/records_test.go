package records

import (
	"errors"
	"strings"
	"testing"

	"github.com/agora-econ/agora/events"
)

func TestDecide(t *testing.T) {
	acked := Evolve(New(""), events.RecordAcknowledged{Seq: 7})
	tests := []struct {
		name  string
		given Acknowledgements
		when  Command
		then  events.Event
		err   error
	}{
		{"acknowledges", New(""), Acknowledge{Seq: 7, Reason: "stray"}, events.RecordAcknowledged{Seq: 7, Reason: "stray"}, nil},
		{"a retry writes nothing", acked, Acknowledge{Seq: 7}, nil, nil},
		{"sequence 0", New(""), Acknowledge{}, nil, ErrInvalidAcknowledgement},
		{"reason too long", New(""), Acknowledge{Seq: 1, Reason: strings.Repeat("x", ReasonBytesMax+1)}, nil, ErrInvalidAcknowledgement},
		{"reason not UTF-8", New(""), Acknowledge{Seq: 1, Reason: "\xff"}, nil, ErrInvalidAcknowledgement},
		{"no command", New(""), nil, nil, ErrUnknownCommand},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Decide(tt.given, tt.when)
			if !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
				t.Fatalf("err %v, want %v", err, tt.err)
			}
			if e != tt.then {
				t.Fatalf("event %#v, want %#v", e, tt.then)
			}
		})
	}
}
