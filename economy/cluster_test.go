package economy

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/agora-econ/agora/economy/config"
	"github.com/agora-econ/agora/events/natslog"
	"github.com/agora-econ/agora/events/natslog/natstest"
)

// TestTheClusterFilesGrantWhatTheCodeGrants: the users of the documented
// cluster (docs/cluster/users.conf) have, on every node, exactly the
// permissions the embedded server gives its users for the default
// configuration, and a client without credentials is the observer. The
// files are text an operator edits; this keeps them and the code from
// drifting apart.
func TestTheClusterFilesGrantWhatTheCodeGrants(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node NATS cluster")
	}
	c := natstest.StartCluster(t)
	want := map[string]*server.Permissions{}
	for _, u := range natslog.Users(c.Password, NatsAccess(config.Default())) {
		want[u.Username] = sortedPermissions(u.Permissions)
	}
	for i := range natstest.ClusterSize {
		opts := c.Options(i)
		if opts.NoAuthUser != natslog.ObserverUser {
			t.Errorf("%s: no_auth_user is %q; want %q", c.Node(i).Name, opts.NoAuthUser, natslog.ObserverUser)
		}
		got := map[string]*server.Permissions{}
		for _, u := range opts.Users {
			got[u.Username] = sortedPermissions(u.Permissions)
			if u.Username == natslog.AgoraUser && u.Password != c.Password {
				t.Errorf("%s: the agora user's password is not AGORA_NATS_PASSWORD", c.Node(i).Name)
			}
		}
		for name, p := range want {
			if !reflect.DeepEqual(got[name], p) {
				t.Errorf("%s: user %s may\n%s\nthe code grants\n%s", c.Node(i).Name, name, describe(got[name]), describe(p))
			}
		}
		if len(got) != len(want) {
			t.Errorf("%s: %d users; the code knows %d", c.Node(i).Name, len(got), len(want))
		}
	}
}

// sortedPermissions is p with its subject lists sorted and empty lists
// dropped: the order of a list grants nothing.
func sortedPermissions(p *server.Permissions) *server.Permissions {
	if p == nil {
		return nil
	}
	sorted := func(sp *server.SubjectPermission) *server.SubjectPermission {
		if sp == nil {
			return nil
		}
		out := &server.SubjectPermission{Allow: slices.Sorted(slices.Values(sp.Allow)), Deny: slices.Sorted(slices.Values(sp.Deny))}
		if len(out.Allow) == 0 {
			out.Allow = nil
		}
		if len(out.Deny) == 0 {
			out.Deny = nil
		}
		return out
	}
	return &server.Permissions{Publish: sorted(p.Publish), Subscribe: sorted(p.Subscribe)}
}

func describe(p *server.Permissions) string {
	if p == nil {
		return "  nothing (no such user)"
	}
	s := ""
	for _, side := range []struct {
		name string
		sp   *server.SubjectPermission
	}{{"publish", p.Publish}, {"subscribe", p.Subscribe}} {
		if side.sp != nil {
			s += "  " + side.name + " allow " + fmt.Sprint(side.sp.Allow) + " deny " + fmt.Sprint(side.sp.Deny) + "\n"
		}
	}
	return s
}
