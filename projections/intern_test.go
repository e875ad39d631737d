package projections

import (
	"fmt"
	"strings"
	"testing"
	"unsafe"
)

// Interned gives one copy of each short string, not one per caller, and
// stays bounded: past its maximum, or for long strings, a string is itself.
func TestInterned(t *testing.T) {
	var in Interned
	a := in.Of(strings.Clone("killed"))
	b := in.Of(strings.Clone("killed"))
	if a != "killed" || unsafe.StringData(a) != unsafe.StringData(b) {
		t.Fatalf("two internings of %q give two copies", a)
	}
	long := strings.Repeat("x", InternedLengthMax+1)
	if got := in.Of(long); unsafe.StringData(got) != unsafe.StringData(long) {
		t.Error("a long string was kept")
	}
	for i := range 2 * InternedMax {
		in.Of(fmt.Sprintf("memo %d", i))
	}
	if len(in.m) != InternedMax {
		t.Errorf("kept %d strings, want at most %d", len(in.m), InternedMax)
	}
	past := fmt.Sprintf("memo %d", 2*InternedMax)
	if got := in.Of(past); got != past || unsafe.StringData(got) != unsafe.StringData(past) {
		t.Error("a string past the maximum is not itself")
	}
	if in.Of("") != "" {
		t.Error("the empty string is not itself")
	}
}
