package config

import (
	"bytes"
	"encoding/json"
	"fmt"

	"gopkg.in/yaml.v3"
)

// JSON renders the configuration as an indented JSON object with the keys
// of the YAML (snake_case, in the same order): money and quantities as
// JSON numbers written exactly as in the YAML (never through float64),
// resources sorted by name. It is derived from the YAML rendering, so the
// two never disagree on a key. Like YAML, it includes
// server.operator_token when set: render Redacted() for anyone but the
// operator.
func (c Config) JSON() ([]byte, error) {
	var root yaml.Node
	if err := root.Encode(c); err != nil {
		return nil, fmt.Errorf("render config: %w", err)
	}
	var buf bytes.Buffer
	if err := writeJSON(&buf, &root); err != nil {
		return nil, fmt.Errorf("render config: %w", err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, buf.Bytes(), "", "  "); err != nil {
		return nil, fmt.Errorf("render config: %w", err)
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// writeJSON writes the YAML tree n as JSON. Mappings keep their order;
// numbers are written as their literal text.
func writeJSON(buf *bytes.Buffer, n *yaml.Node) error {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return fmt.Errorf("a document of %d nodes", len(n.Content))
		}
		return writeJSON(buf, n.Content[0])
	case yaml.MappingNode:
		buf.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			if i > 0 {
				buf.WriteByte(',')
			}
			k, err := json.Marshal(n.Content[i].Value)
			if err != nil {
				return err
			}
			buf.Write(k)
			buf.WriteByte(':')
			if err := writeJSON(buf, n.Content[i+1]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case yaml.SequenceNode:
		buf.WriteByte('[')
		for i, e := range n.Content {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeJSON(buf, e); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case yaml.ScalarNode:
		return writeScalar(buf, n)
	default:
		return fmt.Errorf("line %d: a YAML node of kind %d", n.Line, n.Kind)
	}
	return nil
}

// writeScalar writes a YAML scalar as the JSON value of its tag: a number
// or a boolean as its literal (when JSON reads it so), null, or a string.
func writeScalar(buf *bytes.Buffer, n *yaml.Node) error {
	switch n.ShortTag() {
	case "!!null":
		buf.WriteString("null")
		return nil
	case "!!int", "!!float", "!!bool":
		if json.Valid([]byte(n.Value)) {
			buf.WriteString(n.Value)
			return nil
		}
	}
	b, err := json.Marshal(n.Value)
	if err != nil {
		return err
	}
	buf.Write(b)
	return nil
}
