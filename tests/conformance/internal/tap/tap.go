package tap

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Outcome is how the program that wrote a TAP stream ended.
type Outcome struct {
	// ExitCode is the program's exit status, or -1 when a signal ended it.
	ExitCode int
	// Signal names the signal that ended the program, if one did.
	Signal string
	// TimedOut is set when the harness killed the program at its deadline.
	TimedOut bool
	// Timeout is the deadline that applied, for the failure message.
	Timeout time.Duration
	// EmptyIsPass makes empty output with exit status 0 a pass with no test
	// points, for programs that report success by printing nothing.
	EmptyIsPass bool
}

// Summary counts the test points of a normalised stream, synthetic failures
// included.
type Summary struct {
	Points  int `json:"points"`
	Passed  int `json:"passed"` // ok, not skipped; includes "not ok # TODO"
	Failed  int `json:"failed"`
	Skipped int `json:"skipped"`
	// Plans holds every plan the program declared, in order.
	Plans []int `json:"plans,omitempty"`
	// ErrorDiagnostic is the first "error" value of a YAML block, if any.
	ErrorDiagnostic string `json:"error_diagnostic,omitempty"`
	// Failures describes the failing test points, in order.
	Failures []string `json:"failures,omitempty"`
}

// OK reports whether the stream has no failing test point.
func (s Summary) OK() bool { return s.Failed == 0 }

var (
	pointRE     = regexp.MustCompile(`^(not ok|ok)\b[ \t]*([0-9]+)?(.*)$`)
	planRE      = regexp.MustCompile(`^1\.\.([0-9]+)\b`)
	directiveRE = regexp.MustCompile(`(?i)#[ \t]*(skip|todo)\b`)
	errorKeyRE  = regexp.MustCompile(`^\s*"?error"?\s*:\s*(.*?),?\s*$`)
)

// normaliser holds the state of one pass over a stream.
type normaliser struct {
	w       *bufio.Writer
	sum     Summary
	inYAML  bool
	seenHdr bool
}

func (n *normaliser) emitPoint(failed bool, rest string) {
	n.sum.Points++
	word := "ok"
	if failed {
		word = "not ok"
	}
	fmt.Fprintf(n.w, "%s %d%s\n", word, n.sum.Points, rest)
	directive := ""
	if m := directiveRE.FindStringSubmatch(rest); m != nil {
		directive = strings.ToLower(m[1])
	}
	switch {
	case directive == "todo":
		n.sum.Passed++
	case directive == "skip" && !failed:
		n.sum.Skipped++
	case failed:
		n.sum.Failed++
		n.sum.Failures = append(n.sum.Failures, strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(rest), "-")))
	default:
		n.sum.Passed++
	}
}

func (n *normaliser) line(l string) {
	trimmed := strings.TrimSpace(l)
	if n.inYAML {
		fmt.Fprintf(n.w, "#%s\n", l)
		if trimmed == "..." {
			n.inYAML = false
			return
		}
		if m := errorKeyRE.FindStringSubmatch(l); m != nil && n.sum.ErrorDiagnostic == "" {
			n.sum.ErrorDiagnostic = firstLine(unquote(m[1]))
		}
		return
	}
	switch {
	case strings.HasPrefix(trimmed, "TAP version"):
		if n.seenHdr {
			fmt.Fprintf(n.w, "# original header: %s\n", trimmed)
		}
		n.seenHdr = true
	case trimmed == "---" && strings.HasPrefix(l, " "):
		n.inYAML = true
		fmt.Fprintf(n.w, "#%s\n", l)
	case strings.HasPrefix(l, "#") || trimmed == "":
		fmt.Fprintln(n.w, l)
	case planRE.MatchString(l):
		v, _ := strconv.Atoi(planRE.FindStringSubmatch(l)[1])
		n.sum.Plans = append(n.sum.Plans, v)
		fmt.Fprintf(n.w, "# original plan: %s\n", l)
	case pointRE.MatchString(l):
		m := pointRE.FindStringSubmatch(l)
		n.emitPoint(m[1] == "not ok", m[3])
	case strings.HasPrefix(l, "Bail out!"):
		fmt.Fprintf(n.w, "# %s\n", l)
		n.emitPoint(true, " - "+l)
	default:
		fmt.Fprintf(n.w, "# %s\n", l)
	}
}

// Normalize rewrites the raw TAP a validation program wrote into one
// well-formed TAP 13 stream on w and returns its summary.
//
// Test points are renumbered from 1, every plan and any repeated header
// becomes a comment, and a single plan closes the stream. Failing test points
// are appended when the program timed out, exited non-zero, declared plans
// that do not add up to the points it printed, printed no plan, or printed an
// "error" diagnostic without any test point (the way several runtime-tools
// programs report failure). Empty output with exit status 0 fails too, unless
// o.EmptyIsPass says the program reports success that way. YAML
// blocks become comments: the programs write JSON in them, which prove's
// YAMLish reader rejects as a parse error.
func Normalize(raw []byte, o Outcome, w io.Writer) (Summary, error) {
	n := &normaliser{w: bufio.NewWriter(w)}
	fmt.Fprintln(n.w, "TAP version 13")
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		n.line(sc.Text())
	}
	if err := sc.Err(); err != nil {
		return n.sum, fmt.Errorf("read tap: %w", err)
	}
	ran := n.sum.Points
	planned := 0
	for _, p := range n.sum.Plans {
		planned += p
	}
	switch {
	case o.TimedOut:
		n.emitPoint(true, fmt.Sprintf(" - harness: program timed out after %s", o.Timeout))
	case o.ExitCode != 0:
		how := fmt.Sprintf("exited with status %d", o.ExitCode)
		if o.Signal != "" {
			how = "was killed by " + o.Signal
		}
		n.emitPoint(true, " - harness: program "+how)
	}
	switch {
	case ran == 0 && n.sum.ErrorDiagnostic != "":
		n.emitPoint(true, " - harness: error reported outside any test point: "+n.sum.ErrorDiagnostic)
	case len(bytes.TrimSpace(raw)) == 0 && !o.TimedOut && o.ExitCode == 0:
		if !o.EmptyIsPass {
			n.emitPoint(true, " - harness: no TAP output")
		}
	case len(n.sum.Plans) == 0 && !o.TimedOut && o.ExitCode == 0:
		n.emitPoint(true, " - harness: no plan, output is incomplete")
	case len(n.sum.Plans) > 0 && planned != ran:
		n.emitPoint(true, fmt.Sprintf(" - harness: planned %d test points, ran %d", planned, ran))
	}
	if n.sum.Points == 0 {
		fmt.Fprintln(n.w, "1..0 # SKIP no test points")
	} else {
		fmt.Fprintf(n.w, "1..%d\n", n.sum.Points)
	}
	if err := n.w.Flush(); err != nil {
		return n.sum, fmt.Errorf("write tap: %w", err)
	}
	return n.sum, nil
}

func unquote(s string) string {
	if u, err := strconv.Unquote(s); err == nil {
		return u
	}
	return strings.Trim(s, `"'`)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return strings.TrimSpace(s)
}
