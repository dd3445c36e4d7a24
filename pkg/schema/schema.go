// Package schema validates decoded JSON payloads against rtt's embedded JSON
// Schemas and turns the validator's findings into errors that name the field
// and the rule that failed.
package schema

import (
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Payload kinds, one per schema file KIND.schema.json.
const (
	KindBeacon   = "beacon"
	KindProfile  = "profile"
	KindValidate = "validate"
	KindCorridor = "corridor"
	KindTopology = "topology"
)

// Set holds the compiled schemas. It is safe for concurrent use.
type Set struct {
	schemas map[string]*jsonschema.Schema
}

// Compile compiles every KIND.schema.json file of fsys, asserting formats
// (date-time) as rules rather than annotations.
func Compile(fsys fs.FS) (*Set, error) {
	names, err := fs.Glob(fsys, "*.schema.json")
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, errors.New("schema: no *.schema.json files")
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	for _, name := range names {
		f, err := fsys.Open(name)
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("schema %s: %w", name, err)
		}
		if err := c.AddResource(name, doc); err != nil {
			return nil, fmt.Errorf("schema %s: %w", name, err)
		}
	}
	set := &Set{schemas: make(map[string]*jsonschema.Schema, len(names))}
	for _, name := range names {
		s, err := c.Compile(name)
		if err != nil {
			return nil, fmt.Errorf("schema %s: %w", name, err)
		}
		set.schemas[strings.TrimSuffix(name, ".schema.json")] = s
	}
	return set, nil
}

// Violation is one failed rule: Field is a dotted path into the payload
// ("structure.nav_count", "flows[2].path"), empty for the payload itself.
type Violation struct {
	Field string `json:"field"`
	Rule  string `json:"rule"`
}

func (v Violation) String() string {
	if v.Field == "" {
		return v.Rule
	}
	return v.Field + ": " + v.Rule
}

// Error reports every rule a payload failed. Its message names each field.
type Error struct {
	Kind       string
	Violations []Violation
}

func (e *Error) Error() string {
	parts := make([]string, len(e.Violations))
	for i, v := range e.Violations {
		parts[i] = v.String()
	}
	return "invalid " + e.Kind + ": " + strings.Join(parts, "; ")
}

// Validate checks doc, a value decoded with UseNumber (as Decode does),
// against the schema of kind. It returns nil or an *Error.
func (s *Set) Validate(kind string, doc any) error {
	sch, ok := s.schemas[kind]
	if !ok {
		return fmt.Errorf("schema: unknown payload kind %q", kind)
	}
	err := sch.Validate(doc)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return &Error{Kind: kind, Violations: []Violation{{Rule: err.Error()}}}
	}
	var out []Violation
	collect(ve, &out)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Field < out[j].Field })
	out = dedupe(out)
	if len(out) > 10 {
		out = append(out[:10], Violation{Rule: fmt.Sprintf("and %d more", len(out)-10)})
	}
	return &Error{Kind: kind, Violations: out}
}

var printer = message.NewPrinter(language.English)

// collect gathers the leaves of the validator's error tree: the concrete
// rules, not the "doesn't validate with ..." wrappers around them.
func collect(ve *jsonschema.ValidationError, out *[]Violation) {
	if req, ok := ve.ErrorKind.(*kind.Required); ok {
		for _, name := range req.Missing {
			*out = append(*out, Violation{
				Field: fieldPath(append(append([]string{}, ve.InstanceLocation...), name)),
				Rule:  "required property is missing",
			})
		}
		return
	}
	if len(ve.Causes) == 0 {
		*out = append(*out, Violation{
			Field: fieldPath(ve.InstanceLocation),
			Rule:  ve.ErrorKind.LocalizedString(printer),
		})
		return
	}
	for _, c := range ve.Causes {
		collect(c, out)
	}
}

func dedupe(vs []Violation) []Violation {
	out := vs[:0]
	for i, v := range vs {
		if i > 0 && v == vs[i-1] {
			continue
		}
		out = append(out, v)
	}
	return out
}

// fieldPath renders a JSON pointer's tokens as a dotted path with indexes.
func fieldPath(loc []string) string {
	var b strings.Builder
	for _, tok := range loc {
		if _, err := strconv.Atoi(tok); err == nil && b.Len() > 0 {
			b.WriteString("[" + tok + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(tok)
	}
	return b.String()
}
