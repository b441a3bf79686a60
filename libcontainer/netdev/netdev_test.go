package netdev

import (
	"bytes"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name    string
		devices map[string]specs.LinuxNetDevice
		netNS   bool
		want    string // "" for no error
	}{
		{"none", nil, false, ""},
		{"rename", map[string]specs.LinuxNetDevice{"eth1": {Name: "eth9"}}, true, ""},
		{"keep name", map[string]specs.LinuxNetDevice{"eth1": {}}, true, ""},
		{"template", map[string]specs.LinuxNetDevice{"eth1": {Name: "net%d"}}, true, ""},
		{"no netns", map[string]specs.LinuxNetDevice{"eth1": {}}, false, "needs a network namespace"},
		{"long", map[string]specs.LinuxNetDevice{"eth1": {Name: "abcdefghijklmnop"}}, true, `linux.netDevices["eth1"].name "abcdefghijklmnop": interface name longer than 15 bytes`},
		{"slash", map[string]specs.LinuxNetDevice{"a/b": {}}, true, `linux.netDevices["a/b"]: interface name contains`},
		{"dot", map[string]specs.LinuxNetDevice{"eth1": {Name: ".."}}, true, "invalid interface name"},
		{"template in key", map[string]specs.LinuxNetDevice{"eth%d": {}}, true, `linux.netDevices["eth%d"]: the only template`},
		{"bad template", map[string]specs.LinuxNetDevice{"eth1": {Name: "e%s"}}, true, "the only template"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(tc.devices, tc.netNS)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("got: %v, want: no error", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got: %v, want: an error containing %q", err, tc.want)
			}
		})
	}
}

func TestEncodeParse(t *testing.T) {
	msg := encode(unix.RTM_NEWLINK, unix.NLM_F_REQUEST, 7, ifInfo(42, unix.IFF_UP, unix.IFF_UP),
		[]attr{{unix.IFLA_IFNAME, cstring("eth9")}, {unix.IFLA_NET_NS_FD, u32(5)}})
	if len(msg)%4 != 0 {
		t.Errorf("message length %d: want 4-byte aligned", len(msg))
	}
	body := msg[unix.SizeofNlMsghdr:]
	l, err := parseLinkData(body)
	if err != nil {
		t.Fatal(err)
	}
	if l.index != 42 || l.name != "eth9" {
		t.Errorf("parsed link: got index %d name %q, want 42 %q", l.index, l.name, "eth9")
	}
	attrs := parseAttrs(body[unix.SizeofIfInfomsg:])
	if len(attrs) != 2 || attrs[1].typ != unix.IFLA_NET_NS_FD || !bytes.Equal(attrs[1].data, u32(5)) {
		t.Errorf("attributes: got %+v, want IFLA_IFNAME then IFLA_NET_NS_FD=5", attrs)
	}
	// A truncated attribute ends the list instead of failing it.
	if got := parseAttrs(append(body[unix.SizeofIfInfomsg:], 0xff, 0x00, 0x01, 0x00)); len(got) != 2 {
		t.Errorf("with a malformed trailing attribute: got %d attributes, want 2", len(got))
	}
}

func TestKeptAddresses(t *testing.T) {
	all := []address{
		{family: unix.AF_INET, scope: unix.RT_SCOPE_UNIVERSE, flags: unix.IFA_F_PERMANENT, prefixLen: 24,
			attrs: []attr{{unix.IFA_LOCAL, []byte{10, 0, 0, 2}}}},
		{family: unix.AF_INET6, scope: unix.RT_SCOPE_LINK, flags: unix.IFA_F_PERMANENT},    // link-local
		{family: unix.AF_INET, scope: unix.RT_SCOPE_UNIVERSE, flags: unix.IFA_F_TEMPORARY}, // not permanent
		{family: unix.AF_INET, scope: unix.RT_SCOPE_HOST, flags: unix.IFA_F_PERMANENT},     // host scope
	}
	got := keptAddresses(all)
	if len(got) != 1 || got[0].String() != "10.0.0.2/24" {
		t.Errorf("kept: got %v, want [10.0.0.2/24]", got)
	}
}
