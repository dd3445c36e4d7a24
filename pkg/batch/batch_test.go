package batch_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/rtt-dev/rtt/pkg/batch"
	"github.com/rtt-dev/rtt/pkg/natsx"
)

func build(sites ...string) *nats.Msg {
	var b batch.Builder
	for i, s := range sites {
		b.Add("id-"+string(rune('a'+i)), s, []byte(`{"site":"`+s+`"}`))
	}
	return b.Msg()
}

func TestRoundTrip(t *testing.T) {
	m := build("east", "east", "east")
	if m.Subject != "rtt.batch.east" {
		t.Fatalf("subject %q, want rtt.batch.east", m.Subject)
	}
	if got := batch.Count(m.Subject, m.Header); got != 3 {
		t.Fatalf("Count = %d, want 3", got)
	}
	items, err := batch.Items(m.Subject, m.Header, m.Data)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 3 {
		t.Fatalf("%d items", len(items))
	}
	for i, it := range items {
		if it.Index != i || it.EventID != "id-"+string(rune('a'+i)) || string(it.Data) != `{"site":"east"}` {
			t.Errorf("item %d: %+v %s", i, it, it.Data)
		}
	}
	if mixed := build("east", "west"); mixed.Subject != "rtt.batch" {
		t.Errorf("mixed sites: subject %q, want rtt.batch", mixed.Subject)
	}
}

func TestMsgIDNamesTheIDsInOrder(t *testing.T) {
	a, b := build("x", "y"), build("x", "y")
	if a.Header.Get(nats.MsgIdHdr) != b.Header.Get(nats.MsgIdHdr) {
		t.Fatal("the same beacons must give the same Nats-Msg-Id: a re-sent request is recognised")
	}
	var c batch.Builder
	c.Add("id-b", "y", []byte(`{}`))
	c.Add("id-a", "x", []byte(`{}`))
	if c.Msg().Header.Get(nats.MsgIdHdr) == a.Header.Get(nats.MsgIdHdr) {
		t.Fatal("another order is another message")
	}
}

func TestSingleBeaconMessage(t *testing.T) {
	h := nats.Header{}
	h.Set(natsx.HeaderEventID, "ev-1")
	items, err := batch.Items("rtt.beacon.east.cluster_heartbeat", h, []byte(`{"a":1}`))
	if err != nil || len(items) != 1 || items[0].EventID != "ev-1" || items[0].Index != 0 {
		t.Fatalf("%+v %v", items, err)
	}
	if batch.Count("rtt.beacon.east.x", h) != 1 || batch.IsBatch("rtt.beacon.east.x") || !batch.IsBeacons("rtt.beacon.east.x") {
		t.Fatal("a single beacon's subject")
	}
	if !batch.IsBatch("rtt.batch") || !batch.IsBatch("rtt.batch.east") || batch.IsBatch("rtt.batches") {
		t.Fatal("batch subjects")
	}
}

func TestMalformed(t *testing.T) {
	h := func(ids string) nats.Header {
		h := nats.Header{}
		h.Set(natsx.HeaderEventIDs, ids)
		return h
	}
	for _, tc := range []struct {
		name, ids, data, want string
	}{
		{"fewer payloads", "a,b,c", "{}\n{}", "3 event ids but 2 payloads"},
		{"more payloads", "a", "{}\n{}", "more payloads"},
		{"empty id", "a,,c", "{}\n{}\n{}", "item 1 has no event id"},
		{"too many", strings.Repeat("a,", batch.MaxItems) + "a", strings.Repeat("{}\n", batch.MaxItems) + "{}", "at most 1024"},
	} {
		_, err := batch.Items("rtt.batch", h(tc.ids), []byte(tc.data))
		if !errors.Is(err, batch.ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrMalformed mentioning %q", tc.name, err, tc.want)
		}
	}
}

func TestPosOrdersBeaconsThroughTheStream(t *testing.T) {
	if !(batch.Pos(7, 0) < batch.Pos(7, 1) && batch.Pos(7, batch.MaxItems-1) < batch.Pos(8, 0)) {
		t.Fatal("Pos must grow with the index within a message and with the sequence across messages")
	}
}
