package logtest

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/agora-econ/agora/events"
)

// RunStore runs the store contract. newStore returns a fresh, empty store
// for each subtest.
func RunStore(t *testing.T, newStore func(t *testing.T) events.Store) {
	t.Run("MissingKey", func(t *testing.T) {
		s := newStore(t)
		v, ok, err := s.Get(ctxT(t), "snapshot.agent.genesis")
		if err != nil || ok || v != nil {
			t.Fatalf("Get of a missing key = %q, %v, %v; want nil, false, nil", v, ok, err)
		}
	})
	t.Run("PutGet", func(t *testing.T) {
		s := newStore(t)
		ctx := ctxT(t)
		for _, kv := range []struct{ k, v string }{
			{"snapshot.agent.genesis", `{"seq":42}`},
			{"cursor.transfers", "17"},
			{"snapshot.market.cpu_seconds", "x"},
			{"A-b_c=d/e.f", "mixed"},
		} {
			if err := s.Put(ctx, kv.k, []byte(kv.v)); err != nil {
				t.Fatalf("Put(%s): %v", kv.k, err)
			}
		}
		for _, kv := range []struct{ k, v string }{
			{"snapshot.agent.genesis", `{"seq":42}`},
			{"cursor.transfers", "17"},
			{"snapshot.market.cpu_seconds", "x"},
			{"A-b_c=d/e.f", "mixed"},
		} {
			v, ok, err := s.Get(ctx, kv.k)
			if err != nil || !ok || string(v) != kv.v {
				t.Fatalf("Get(%s) = %q, %v, %v; want %q", kv.k, v, ok, err, kv.v)
			}
		}
	})
	t.Run("Overwrite", func(t *testing.T) {
		s := newStore(t)
		ctx := ctxT(t)
		for _, v := range []string{"one", "two", "three"} {
			if err := s.Put(ctx, "cursor.transfers", []byte(v)); err != nil {
				t.Fatal(err)
			}
		}
		v, ok, err := s.Get(ctx, "cursor.transfers")
		if err != nil || !ok || string(v) != "three" {
			t.Fatalf("Get = %q, %v, %v; want three", v, ok, err)
		}
	})
	t.Run("EmptyValue", func(t *testing.T) {
		s := newStore(t)
		ctx := ctxT(t)
		if err := s.Put(ctx, "cursor.empty", nil); err != nil {
			t.Fatal(err)
		}
		v, ok, err := s.Get(ctx, "cursor.empty")
		if err != nil || !ok || len(v) != 0 {
			t.Fatalf("Get = %q, %v, %v; want an empty value that exists", v, ok, err)
		}
	})
	t.Run("ValuesAreCopies", func(t *testing.T) {
		s := newStore(t)
		ctx := ctxT(t)
		buf := []byte("original")
		if err := s.Put(ctx, "k", buf); err != nil {
			t.Fatal(err)
		}
		copy(buf, "XXXXXXXX")
		v, _, _ := s.Get(ctx, "k")
		if !bytes.Equal(v, []byte("original")) {
			t.Fatalf("stored value changed with the caller's buffer: %q", v)
		}
		copy(v, "YYYYYYYY")
		v2, _, _ := s.Get(ctx, "k")
		if !bytes.Equal(v2, []byte("original")) {
			t.Fatalf("stored value changed with a reader's buffer: %q", v2)
		}
	})
	t.Run("InvalidKeys", func(t *testing.T) {
		s := newStore(t)
		ctx := ctxT(t)
		for _, k := range []string{"", ".lead", "trail.", "a..b", "with space", "star.*", "gt.>", "é", strings.Repeat("x", 10) + "\n"} {
			if err := s.Put(ctx, k, []byte("v")); !errors.Is(err, events.ErrInvalidKey) {
				t.Fatalf("Put(%q): %v; want ErrInvalidKey", k, err)
			}
			if _, _, err := s.Get(ctx, k); !errors.Is(err, events.ErrInvalidKey) {
				t.Fatalf("Get(%q): %v; want ErrInvalidKey", k, err)
			}
		}
	})
}
