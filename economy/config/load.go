package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"reflect"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Load reads the configuration: the defaults, then the YAML file at path laid
// over them (a key absent from the file keeps its default). An empty path
// means the defaults alone. A missing file, a syntax error, an unknown key, a
// value of the wrong type and every rule of Validate are errors naming the
// key; all problems are reported at once. The result is valid.
func Load(path string) (Config, error) {
	if path == "" {
		c := Default()
		return c, c.Validate()
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Config{}, fmt.Errorf("config file %s does not exist", path)
	}
	if err != nil {
		return Config{}, fmt.Errorf("config file %s: %w", path, err)
	}
	c, err := Parse(b)
	if err != nil {
		return Config{}, fmt.Errorf("config file %s:\n%w", path, err)
	}
	return c, nil
}

// Parse is Load for YAML already in memory: the defaults, then doc laid over
// them, then Validate.
func Parse(doc []byte) (Config, error) {
	c := rawDefault()
	if err := overlay(doc, &c); err != nil {
		return Config{}, err
	}
	c.resolve()
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// overlay decodes doc over c. It walks the YAML tree itself (rather than
// yaml.v3's Decoder with KnownFields) so that every error names the key path
// and all of them are reported together.
func overlay(doc []byte, c *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(doc))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file: the defaults
		}
		return fmt.Errorf("not valid YAML: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return errors.New("more than one YAML document; the configuration is a single document")
	}
	w := &walker{}
	n := &root
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	w.set(n, reflect.ValueOf(c).Elem(), "")
	return errors.Join(w.errs...)
}

type walker struct{ errs []error }

func (w *walker) errorf(n *yaml.Node, path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if path == "" {
		path = "(top level)"
	}
	w.errs = append(w.errs, fmt.Errorf("%s: %s (line %d)", path, msg, n.Line))
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// set decodes n into v, which is addressable; path is v's key path.
func (w *walker) set(n *yaml.Node, v reflect.Value, path string) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if reflect.PointerTo(v.Type()).Implements(unmarshalerType) {
		if err := v.Addr().Interface().(yaml.Unmarshaler).UnmarshalYAML(n); err != nil {
			w.errorf(n, path, "%s", err)
		}
		return
	}
	null := n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
	switch v.Kind() {
	case reflect.Struct, reflect.Map:
		if null {
			return // "economy:" with nothing under it changes nothing
		}
		// A struct is a mapping of its keys, a map one of the names it
		// gives to its values.
		what, walk := "keys", w.structFields
		if v.Kind() == reflect.Map {
			what, walk = "names", w.mapEntries
		}
		if n.Kind != yaml.MappingNode {
			w.errorf(n, path, "expected a mapping of %s, found %s", what, kindName(n))
			return
		}
		walk(n, v, path)
	case reflect.String:
		if null {
			v.SetString("")
			return
		}
		if n.Kind != yaml.ScalarNode {
			w.errorf(n, path, "expected a string, found %s", kindName(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Int, reflect.Int64:
		var i int64
		if n.Kind != yaml.ScalarNode || null || n.ShortTag() != "!!int" || n.Decode(&i) != nil {
			w.errorf(n, path, "expected a whole number, found %s", kindName(n))
			return
		}
		if v.OverflowInt(i) {
			w.errorf(n, path, "%s is too large", n.Value)
			return
		}
		v.SetInt(i)
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
			w.errorf(n, path, "expected true or false, found %s", kindName(n))
			return
		}
		v.SetBool(b)
	case reflect.Float64:
		var f float64
		tag := n.ShortTag()
		if n.Kind != yaml.ScalarNode || (tag != "!!int" && tag != "!!float") || n.Decode(&f) != nil {
			w.errorf(n, path, "expected a number, found %s", kindName(n))
			return
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			w.errorf(n, path, "%q is not a finite number", n.Value)
			return
		}
		v.SetFloat(f)
	default:
		panic(fmt.Sprintf("config: no decoder for %s at %s", v.Type(), path))
	}
}

func (w *walker) structFields(n *yaml.Node, v reflect.Value, path string) {
	t := v.Type()
	index := map[string]int{}
	var known []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		index[name] = i
		known = append(known, name)
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		key := k.Value
		p := join(path, key)
		if k.Kind != yaml.ScalarNode {
			w.errorf(k, path, "a key must be a plain name, found %s", kindName(k))
			continue
		}
		if key == "<<" {
			w.errorf(k, p, "merge keys are not supported; write the keys out")
			continue
		}
		fi, ok := index[key]
		if !ok {
			w.errorf(k, p, "unknown key; known keys here are %s", strings.Join(known, ", "))
			continue
		}
		if seen[key] {
			w.errorf(k, p, "given twice")
			continue
		}
		seen[key] = true
		w.set(val, v.Field(fi), p)
	}
}

func (w *walker) mapEntries(n *yaml.Node, v reflect.Value, path string) {
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!null" {
			w.errorf(k, path, "a name must be a plain string, found %s", kindName(k))
			continue
		}
		key := k.Value
		p := join(path, key)
		if seen[key] {
			w.errorf(k, p, "given twice")
			continue
		}
		seen[key] = true
		kv := reflect.ValueOf(key).Convert(v.Type().Key())
		for val.Kind == yaml.AliasNode && val.Alias != nil {
			val = val.Alias
		}
		if val.Kind == yaml.ScalarNode && val.ShortTag() == "!!null" {
			v.SetMapIndex(kv, reflect.Value{}) // "tokens: null" removes the entry
			continue
		}
		elem := reflect.New(v.Type().Elem()).Elem()
		if old := v.MapIndex(kv); old.IsValid() {
			elem.Set(old) // merge over the default of the same name
		}
		w.set(val, elem, p)
		v.SetMapIndex(kv, elem)
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// YAML renders the configuration as a YAML document that Load reads back to
// the same Config: money as plain numbers of credits, quantities as plain
// numbers of units, resources sorted by name (a default resource that c
// lacks is written as "name: null"). It includes server.operator_token when
// set: render Redacted() for anyone but the operator.
func (c Config) YAML() ([]byte, error) {
	var root yaml.Node
	if err := root.Encode(c); err != nil {
		return nil, fmt.Errorf("render config: %w", err)
	}
	// A file is laid over the defaults, so a default resource that this
	// configuration lacks is written as "name: null" (removed).
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "resources" || root.Content[i+1].Kind != yaml.MappingNode {
			continue
		}
		res := root.Content[i+1]
		for _, name := range rawDefault().ResourceNames() {
			if _, ok := c.Resources[name]; !ok {
				res.Content = append(res.Content,
					&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: name},
					&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"})
			}
		}
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&root); err != nil {
		return nil, fmt.Errorf("render config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("render config: %w", err)
	}
	return buf.Bytes(), nil
}

// ResourceNames are the configured resource names, sorted.
func (c Config) ResourceNames() []string {
	names := make([]string, 0, len(c.Resources))
	for k := range c.Resources {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}
