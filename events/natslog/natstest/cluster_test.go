package natstest_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/logtest"
	"github.com/agora-econ/agora/events/natslog"
	"github.com/agora-econ/agora/events/natslog/natstest"
)

// TestAClusterElectsANewStreamLeader starts the documented cluster,
// creates a stream of three replicas as Agora's user, kills the node
// that leads it, and finds another leading it with every message kept;
// the killed node comes back on its store.
func TestAClusterElectsANewStreamLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node NATS cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := natstest.StartCluster(t)
	js := c.Connect(natslog.AgoraUser, c.Password)
	if _, err := natslog.EnsureStream(ctx, js, natslog.StreamOptions{Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if _, err := js.Publish(ctx, "events.test.a.x", []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	leader := c.StreamLeader(ctx, js, natslog.DefaultStream)
	c.Kill(leader)
	next := c.StreamLeader(ctx, js, natslog.DefaultStream)
	if next == leader {
		t.Fatalf("%s leads the stream after it was killed", c.Node(next).Name)
	}
	if _, err := js.Publish(ctx, "events.test.a.x", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, natslog.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	if info := s.CachedInfo(); info.State.Msgs != 11 || info.Config.Replicas != 3 {
		t.Fatalf("after the election the stream holds %d messages in %d replicas; want 11 in 3", info.State.Msgs, info.Config.Replicas)
	}
	c.Restart(leader)
}

// TestTheLogContractOnACluster runs the event log's contract against a
// stream of three replicas on the documented cluster, one stream per case
// (each captures events.>, so the case's stream is deleted after it).
func TestTheLogContractOnACluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node NATS cluster")
	}
	c := natstest.StartCluster(t)
	js := c.Connect(natslog.AgoraUser, c.Password)
	n := 0
	logtest.Run(t, func(t *testing.T) events.Log {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		n++
		name := "CONTRACT_" + strconv.Itoa(n)
		l, err := natslog.Open(ctx, js, natslog.StreamOptions{Name: name, Replicas: 3})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			l.Close()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := js.DeleteStream(ctx, name); err != nil {
				t.Errorf("delete stream %s: %v", name, err)
			}
		})
		return l
	})
}
