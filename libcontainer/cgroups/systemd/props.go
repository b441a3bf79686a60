package systemd

import (
	"fmt"
	"log/slog"
	"math"
	"regexp"
	"sort"
	"strings"
	"sync"

	sd "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/libcontainer/cgroups/devices"
	"github.com/husk-runtime/husk/libcontainer/cgroups/internal/cgcore"
)

// AnnotationPrefix marks annotations that become unit properties.
const AnnotationPrefix = "org.systemd.property."

// defaultCPUPeriod is the CFS period systemd and the kernel assume.
const defaultCPUPeriod = 100000

// PropOptions are the host facts Properties depends on.
type PropOptions struct {
	// Unified selects cgroup v2 property names (MemoryMax, CPUWeight,
	// IOWeight) over v1 ones (MemoryLimit, CPUShares, BlockIOWeight).
	Unified bool
	// Description of the unit.
	Description string
	// Slice the scope lives in; omitted when empty.
	Slice string
	// DeviceName maps a device type ('c' or 'b') and major number to its
	// /proc/devices name, for wildcard-minor rules ("char-pts"). Nil means
	// no such lookups: those rules then make the device list
	// inexpressible and the device policy is left to the cgroup driver.
	DeviceName func(typ byte, major int64) (string, bool)
}

// propNameRe is compiled on first use: not every husk command talks to systemd.
var propNameRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Z][A-Za-z0-9]*$`) })

func prop(name string, v any) sd.Property { return sd.Property{Name: name, Value: dbus.MakeVariant(v)} }

// Properties translates resources and annotations into the properties of a
// transient scope. Annotations override derived properties of the same
// name; "<X>Sec" annotations are converted to "<X>USec" as systemd's D-Bus
// API only takes microseconds. The result is sorted by name after the
// fixed unit settings, for stable output.
func Properties(r *specs.LinuxResources, annotations map[string]string, o PropOptions) ([]sd.Property, error) {
	props := []sd.Property{}
	if o.Description != "" {
		props = append(props, sd.PropDescription(o.Description))
	}
	if o.Slice != "" {
		props = append(props, sd.PropSlice(o.Slice))
	}
	// Delegate: husk writes what systemd cannot express into the scope's
	// cgroup; DefaultDependencies=no keeps the scope out of shutdown
	// ordering it does not need.
	props = append(props,
		prop("Delegate", true),
		prop("DefaultDependencies", false),
		prop("MemoryAccounting", true),
		prop("CPUAccounting", true),
		prop("TasksAccounting", true),
	)
	if o.Unified {
		props = append(props, prop("IOAccounting", true))
	} else {
		props = append(props, prop("BlockIOAccounting", true))
	}
	res, err := resourceProps(r, o)
	if err != nil {
		return nil, err
	}
	ann, err := annotationProps(annotations)
	if err != nil {
		return nil, err
	}
	byName := map[string]bool{}
	for _, p := range ann {
		byName[p.Name] = true
	}
	var out []sd.Property
	for _, p := range append(props, res...) {
		if !byName[p.Name] {
			out = append(out, p)
		}
	}
	return append(out, ann...), nil
}

func u64(v int64) uint64 {
	if v < 0 {
		return math.MaxUint64 // "infinity"
	}
	return uint64(v)
}

func resourceProps(r *specs.LinuxResources, o PropOptions) ([]sd.Property, error) {
	var out []sd.Property
	if r == nil {
		return out, nil
	}
	if m := r.Memory; m != nil {
		if m.Limit != nil {
			if o.Unified {
				out = append(out, prop("MemoryMax", u64(*m.Limit)))
			} else {
				out = append(out, prop("MemoryLimit", u64(*m.Limit)))
			}
		}
		if o.Unified && m.Reservation != nil {
			out = append(out, prop("MemoryLow", u64(*m.Reservation)))
		}
		if o.Unified && m.Swap != nil {
			sw := uint64(math.MaxUint64)
			if *m.Swap >= 0 {
				limit := int64(0)
				if m.Limit != nil && *m.Limit > 0 {
					limit = *m.Limit
				}
				sw = uint64(*m.Swap - limit)
			}
			out = append(out, prop("MemorySwapMax", sw))
		}
	}
	if c := r.CPU; c != nil {
		if c.Shares != nil && *c.Shares != 0 {
			if o.Unified {
				out = append(out, prop("CPUWeight", cgcore.SharesToWeight(*c.Shares)))
			} else {
				out = append(out, prop("CPUShares", *c.Shares))
			}
		}
		period := uint64(defaultCPUPeriod)
		if c.Period != nil && *c.Period != 0 {
			period = *c.Period
			out = append(out, prop("CPUQuotaPeriodUSec", period))
		}
		if c.Quota != nil && *c.Quota != 0 {
			perSec := uint64(math.MaxUint64)
			if *c.Quota > 0 {
				// systemd keeps CPUQuotaPerSecUSec in 10 ms steps;
				// round up so that the quota is never cut.
				perSec = uint64(*c.Quota) * 1000000 / period
				if rem := perSec % 10000; rem != 0 {
					perSec += 10000 - rem
				}
			}
			out = append(out, prop("CPUQuotaPerSecUSec", perSec))
		}
		if o.Unified {
			for _, x := range []struct{ name, list string }{{"AllowedCPUs", c.Cpus}, {"AllowedMemoryNodes", c.Mems}} {
				if x.list == "" {
					continue
				}
				mask, err := bitmask(x.list)
				if err != nil {
					return nil, fmt.Errorf("linux.resources.cpu: %w", err)
				}
				out = append(out, prop(x.name, mask))
			}
		}
	}
	if r.Pids != nil && r.Pids.Limit != nil {
		out = append(out, prop("TasksMax", u64(*r.Pids.Limit)))
	}
	if b := r.BlockIO; b != nil && b.Weight != nil {
		if o.Unified {
			out = append(out, prop("IOWeight", cgcore.BlkioWeightToIOWeight(*b.Weight)))
		} else {
			out = append(out, prop("BlockIOWeight", uint64(*b.Weight)))
		}
	}
	if len(r.Devices) > 0 {
		rules, err := devices.FromSpec(r.Devices)
		if err != nil {
			return nil, err
		}
		policy, allow, ok := devicePolicy(rules, o.DeviceName)
		if ok {
			out = append(out, prop("DevicePolicy", policy), prop("DeviceAllow", allow))
		} else {
			slog.Debug("device rules not expressible as systemd properties; the cgroup driver enforces them alone")
		}
	}
	return out, nil
}

// deviceAllow is systemd's DeviceAllow element, D-Bus signature (ss).
type deviceAllow struct {
	Path  string
	Perms string
}

// devicePolicy expresses rules as DevicePolicy=strict plus DeviceAllow,
// which works for the usual "deny everything, then allow a list" shape. A
// deny rule after the first, or a wildcard-minor major without a name,
// cannot be expressed: ok is false. A lone allow-all gives "auto".
func devicePolicy(rules []devices.Rule, name func(byte, int64) (string, bool)) (string, []deviceAllow, bool) {
	allow := []deviceAllow{}
	policy := "auto"
	for i, r := range rules {
		if !r.Allow {
			if i == 0 && r.Type == 'a' && r.Access == "rwm" {
				policy = "strict"
				continue
			}
			return "", nil, false
		}
		if r.Type == 'a' {
			if r.Access != "rwm" {
				return "", nil, false
			}
			policy, allow = "auto", []deviceAllow{}
			continue
		}
		class := "char"
		if r.Type == 'b' {
			class = "block"
		}
		switch {
		case r.Major < 0:
			// systemd matches "char-*" against every /proc/devices name.
			allow = append(allow, deviceAllow{class + "-*", r.Access})
		case r.Minor < 0:
			if name == nil {
				return "", nil, false
			}
			n, found := name(r.Type, r.Major)
			if !found {
				return "", nil, false
			}
			allow = append(allow, deviceAllow{class + "-" + n, r.Access})
		default:
			allow = append(allow, deviceAllow{fmt.Sprintf("/dev/%s/%d:%d", class, r.Major, r.Minor), r.Access})
		}
	}
	return policy, allow, true
}

// bitmask renders a cpuset list as systemd's byte array, lowest CPU in the
// lowest bit of the first byte.
func bitmask(list string) ([]byte, error) {
	ids, err := cgcore.ParseList(list)
	if err != nil {
		return nil, err
	}
	var out []byte
	for _, id := range ids {
		for int(id/8) >= len(out) {
			out = append(out, 0)
		}
		out[id/8] |= 1 << (id % 8)
	}
	return out, nil
}

func annotationProps(annotations map[string]string) ([]sd.Property, error) {
	keys := make([]string, 0, len(annotations))
	for k := range annotations {
		if strings.HasPrefix(k, AnnotationPrefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out []sd.Property
	for _, k := range keys {
		name := strings.TrimPrefix(k, AnnotationPrefix)
		if !propNameRe().MatchString(name) {
			return nil, fmt.Errorf("annotation %q: %q is not a systemd property name", k, name)
		}
		v, err := dbus.ParseVariant(annotations[k], dbus.Signature{})
		if err != nil {
			return nil, fmt.Errorf("annotation %q: value %q is not a D-Bus variant in GVariant text form: %w", k, annotations[k], err)
		}
		if base, ok := strings.CutSuffix(name, "Sec"); ok && !strings.HasSuffix(name, "USec") {
			usec, err := toUsec(v)
			if err != nil {
				return nil, fmt.Errorf("annotation %q: %w", k, err)
			}
			name, v = base+"USec", dbus.MakeVariant(usec)
		}
		out = append(out, sd.Property{Name: name, Value: v})
	}
	return out, nil
}

// toUsec converts a number of seconds to microseconds.
func toUsec(v dbus.Variant) (uint64, error) {
	var sec float64
	switch x := v.Value().(type) {
	case int32:
		sec = float64(x)
	case int64:
		sec = float64(x)
	case uint32:
		sec = float64(x)
	case uint64:
		sec = float64(x)
	case float64:
		sec = x
	default:
		return 0, fmt.Errorf("value %s: want a number of seconds", v)
	}
	if sec < 0 {
		return 0, fmt.Errorf("value %s: must not be negative", v)
	}
	return uint64(sec * 1e6), nil
}
