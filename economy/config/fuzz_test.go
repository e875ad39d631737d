package config

import (
	"reflect"
	"strings"
	"testing"
)

// FuzzParse: any document gives a valid configuration or an error that
// says what is wrong; never a panic. A valid configuration renders to
// YAML that reads back to itself, and to JSON.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"",
		"economy:\n  initial_credit_budget: 2500.5\n",
		"economy: {spawn_cost: abc}",
		"resources:\n  tokens: null\n  gpu: {supply: 4, initial_price: 2.5}\n",
		"resources: {cpu_seconds: {supply: 0.5, initial_price: 1e-7}}",
		"allocation: {schedule_seconds: .nan, high_mark: 2}",
		"nats: {url: 'nats://a:4222', port: 70000, sync: sometimes}",
		"server: {operator_token: short}\ndata: {dir: ''}",
		"a: &x [*x]",
		"economy: &e {spawn_cost: 1}\nattention: *e\n",
		"--- \n...\n---\n",
		"execution: [1, 2]",
		"inference: {url: 'http://127.0.0.1:11434/v1', timeout_seconds: -1, api_key: sk}",
		"economy:\n  initial_credit_budget: 1_000_000_000_000.000001\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		c, err := Parse(doc)
		if err != nil {
			if strings.TrimSpace(err.Error()) == "" {
				t.Fatalf("an error without words for %q", doc)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted an invalid configuration: %v\n%s", err, doc)
		}
		y, err := c.YAML()
		if err != nil {
			t.Fatalf("render the YAML: %v", err)
		}
		back, err := Parse(y)
		if err != nil {
			t.Fatalf("the rendered YAML does not read back: %v\n%s", err, y)
		}
		if !reflect.DeepEqual(back, c) {
			t.Fatalf("the rendered YAML reads back to another configuration\n%s\ngot  %+v\nwant %+v", y, back, c)
		}
		if _, err := c.JSON(); err != nil {
			t.Fatalf("render the JSON: %v", err)
		}
	})
}
