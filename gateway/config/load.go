package config

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/ssegate/ssegate/gateway/upstream"
)

// EnvPrefix starts the name of every setting's environment variable: the
// setting's flag name upper-cased, with '-' as '_' (SSEGATE_HEARTBEAT).
const EnvPrefix = "SSEGATE_"

// Parse fills dst, a pointer to a struct of settings, from, in rising
// precedence, what dst already holds (its defaults), the config file named
// by -config or SSEGATE_CONFIG (YAML or JSON), SSEGATE_* environment
// variables and command-line flags. It does not validate.
//
// A setting is a field with a `name` tag (its flag; the environment
// variable is EnvPrefix and the name upper-cased) and a `json` tag (its key
// in the file), of type string, bool, int, time.Duration or []string (comma
// separated in flags and the environment, a list in the file). Embedded
// structs, such as a Config inside a binary's own settings, contribute
// their settings. A field of type []upstream.Config holds the upstreams:
// the file's list, or the flags -upstream NAME=HOST:PORT[,HOST:PORT…]
// (repeatable) with -descriptor-set FILE or -reflection, which replace it.
func Parse(name string, args []string, getenv func(string) string, dst any) error {
	fields, upstreams, err := fieldsOf(dst)
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	file := fs.String("config", getenv(EnvPrefix+"CONFIG"), "config file, YAML or JSON (env "+EnvPrefix+"CONFIG)")
	set := map[string]string{}
	for _, f := range fields {
		record := func(s string) error {
			set[f.name] = s
			return nil
		}
		if f.v.Kind() == reflect.Bool {
			fs.BoolFunc(f.name, f.help+" (env "+f.env+")", record)
			continue
		}
		fs.Func(f.name, f.help+" (env "+f.env+")", record)
	}
	var flagUpstreams []string
	var descriptorSet string
	var reflection bool
	if upstreams.IsValid() {
		fs.Func("upstream", "an upstream NAME=HOST:PORT[,HOST:PORT…], repeatable; with -descriptor-set or -reflection", func(s string) error {
			flagUpstreams = append(flagUpstreams, s)
			return nil
		})
		fs.StringVar(&descriptorSet, "descriptor-set", "", "descriptor set file of the -upstream services (buf build -o FILE)")
		fs.BoolVar(&reflection, "reflection", false, "load the -upstream services' descriptors by gRPC server reflection")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *file != "" {
		if err := readFile(*file, fields, upstreams); err != nil {
			return err
		}
	}
	for _, f := range fields {
		if v := getenv(f.env); v != "" {
			if err := f.set(v); err != nil {
				return fmt.Errorf("%s: %w", f.env, err)
			}
		}
	}
	for _, f := range fields {
		if v, ok := set[f.name]; ok {
			if err := f.set(v); err != nil {
				return fmt.Errorf("-%s: %w", f.name, err)
			}
		}
	}
	if !upstreams.IsValid() {
		return nil
	}
	switch {
	case len(flagUpstreams) == 0 && (descriptorSet != "" || reflection):
		return errors.New("-descriptor-set and -reflection go with -upstream")
	case len(flagUpstreams) > 0:
		list, err := parseUpstreams(flagUpstreams, descriptorSet, reflection)
		if err != nil {
			return err
		}
		upstreams.Set(reflect.ValueOf(list))
	}
	return nil
}

// parseUpstreams reads -upstream flags.
func parseUpstreams(flags []string, descriptorSet string, reflection bool) ([]upstream.Config, error) {
	var list []upstream.Config
	for _, s := range flags {
		name, addrs, ok := strings.Cut(s, "=")
		if !ok || name == "" || addrs == "" {
			return nil, fmt.Errorf("-upstream: %q is not NAME=HOST:PORT[,HOST:PORT…]", s)
		}
		u := upstream.Config{Name: name, DescriptorSet: descriptorSet, Reflection: reflection}
		for a := range strings.SplitSeq(addrs, ",") {
			if a = strings.TrimSpace(a); a != "" {
				u.Addrs = append(u.Addrs, a)
			}
		}
		list = append(list, u)
	}
	return list, nil
}

// readFile applies a config file: flat settings by their json key, and the
// upstreams list as it is written.
func readFile(path string, fields []field, upstreams reflect.Value) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	// JSON is YAML, so one reader serves both.
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(j, &raw); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	for key, v := range raw {
		if key == upstreamsKey && upstreams.IsValid() {
			var list []upstream.Config
			dec := json.NewDecoder(strings.NewReader(string(v)))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&list); err != nil {
				return fmt.Errorf("config file %s: %s: %w", path, key, err)
			}
			upstreams.Set(reflect.ValueOf(list))
			continue
		}
		f, ok := fieldByJSON(fields, key)
		if !ok {
			return fmt.Errorf("config file %s: unknown setting %q", path, key)
		}
		var s string
		var list []string
		switch {
		case json.Unmarshal(v, &s) == nil:
		case json.Unmarshal(v, &list) == nil:
			s = strings.Join(list, ",")
		default:
			s = string(v) // numbers and booleans as written
		}
		if err := f.set(s); err != nil {
			return fmt.Errorf("config file %s: %s: %w", path, key, err)
		}
	}
	return nil
}

// upstreamsKey is the file's key of the upstreams list.
const upstreamsKey = "upstreams"

type field struct {
	name, env, json, help string
	v                     reflect.Value
}

var upstreamsType = reflect.TypeFor[[]upstream.Config]()

// fieldsOf lists the settings of the struct dst points to, embedded
// structs included, and its upstreams field if it has one.
func fieldsOf(dst any) ([]field, reflect.Value, error) {
	v := reflect.ValueOf(dst)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil, reflect.Value{}, fmt.Errorf("config: %T is not a pointer to a struct", dst)
	}
	var fields []field
	var upstreams reflect.Value
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		t := v.Type()
		for i := range t.NumField() {
			sf := t.Field(i)
			switch {
			case sf.Anonymous && sf.Type.Kind() == reflect.Struct:
				walk(v.Field(i))
			case sf.Type == upstreamsType:
				upstreams = v.Field(i)
			case sf.Tag.Get("name") != "":
				name := sf.Tag.Get("name")
				fields = append(fields, field{
					name: name,
					env:  EnvPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_")),
					json: sf.Tag.Get("json"),
					help: sf.Tag.Get("help"),
					v:    v.Field(i),
				})
			}
		}
	}
	walk(v.Elem())
	return fields, upstreams, nil
}

func fieldByJSON(fields []field, key string) (field, bool) {
	for _, f := range fields {
		if f.json == key {
			return f, true
		}
	}
	return field{}, false
}

// set parses s into the field by its Go type.
func (f field) set(s string) error {
	switch f.v.Interface().(type) {
	case string:
		f.v.SetString(s)
	case time.Duration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("%q is not a duration such as 15s", s)
		}
		f.v.SetInt(int64(d))
	case bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		f.v.SetBool(b)
	case int:
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", s)
		}
		f.v.SetInt(int64(n))
	case []string:
		var list []string
		for p := range strings.SplitSeq(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				list = append(list, p)
			}
		}
		f.v.Set(reflect.ValueOf(list))
	default:
		return fmt.Errorf("unsupported setting type %s", f.v.Type())
	}
	return nil
}
