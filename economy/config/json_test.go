package config

import (
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// TestJSON: the JSON rendering has the YAML's keys (snake_case), holds
// money exactly, redacts what Redacted redacts, and, JSON being YAML,
// reads back to the same configuration.
func TestJSON(t *testing.T) {
	c := Default()
	c.Economy.InitialCreditBudget = Credits(999_999_999_999_999_999) // 1e12 less a micro-credit
	c.Allocation.HighMark = 0.95
	c.Server.OperatorToken = "0123456789abcdef0123"
	c.Inference.APIKey = "sk-secret"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	b, err := c.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	snake := regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				if !snake.MatchString(k) {
					t.Errorf("%s: key %q is not snake_case", path, k)
				}
				walk(path+"."+k, e)
			}
		case []any:
			for _, e := range v {
				walk(path, e)
			}
		}
	}
	walk("", m)
	for _, want := range []string{`"initial_credit_budget": 999999999999.999999`, `"high_mark": 0.95`, `"sync": "always"`,
		`"initial_price": 0.1`, `"operator_token": "0123456789abcdef0123"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON lacks %s:\n%s", want, b)
		}
	}
	if got, err := Parse(b); err != nil || !reflect.DeepEqual(got, c) {
		t.Errorf("the JSON does not read back to the configuration: %v\n%s", err, b)
	}

	r, err := c.Redacted().JSON()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(r), "sk-secret") || strings.Contains(string(r), "0123456789abcdef0123") ||
		!strings.Contains(string(r), `"api_key": "[redacted]"`) {
		t.Errorf("the redacted JSON shows a secret:\n%s", r)
	}
}
