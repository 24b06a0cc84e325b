package raft

import (
	"context"
	"errors"

	pb "github.com/basaltkv/basalt/raft/raftpb"
)

// ErrStopped is returned by a Node's methods once it is stopped.
var ErrStopped = errors.New("raft: stopped")

// Node is a raft member run by one goroutine. Every method hands its
// request to that goroutine; Ready delivers work, which the application
// acknowledges with Advance.
type Node interface {
	// Tick advances the logical clock.
	Tick()
	// Campaign starts an election.
	Campaign(ctx context.Context) error
	// Propose proposes data for the log. An error means it was refused;
	// success does not mean it will commit.
	Propose(ctx context.Context, data []byte) error
	// ProposeAsync hands data to raft without waiting for its verdict:
	// the returned channel gets raft's refusal, if it refuses, and
	// nothing if it accepts. An error means the proposal never reached
	// raft. A caller that waits for the entry anyway saves the wake-up
	// that Propose's answer costs.
	ProposeAsync(ctx context.Context, data []byte) (<-chan error, error)
	// ProposeConfChange proposes a membership change.
	ProposeConfChange(ctx context.Context, cc pb.ConfChange) error
	// Step hands a message from a peer to raft.
	Step(ctx context.Context, m pb.Message) error
	// Ready delivers the next batch of work.
	Ready() <-chan Ready
	// Advance acknowledges the last Ready.
	Advance()
	// ApplyConfChange applies a committed conf change; see RawNode.
	ApplyConfChange(cc pb.ConfChange) (pb.ConfState, error)
	// TransferLeadership asks the leader to hand over to transferee.
	TransferLeadership(ctx context.Context, lead, transferee uint64)
	// ReadIndex requests a read index; the answer comes in ReadStates.
	ReadIndex(ctx context.Context, rctx []byte) error
	// Status returns the member's state.
	Status() Status
	// ReportUnreachable reports that a message to id was not delivered.
	ReportUnreachable(id uint64)
	// ReportSnapshot reports the outcome of sending a snapshot to id.
	ReportSnapshot(id uint64, status SnapshotStatus)
	// Stop stops the goroutine. Ready must not be waited on afterwards.
	Stop()
}

type msgWithResult struct {
	m      pb.Message
	result chan error
	// refusalOnly sends on result only an error.
	refusalOnly bool
}

type confChangeRequest struct {
	cc     pb.ConfChange
	result chan confChangeResult
}

type confChangeResult struct {
	cs  pb.ConfState
	err error
}

type node struct {
	propc    chan msgWithResult
	recvc    chan pb.Message
	confc    chan confChangeRequest
	readyc   chan Ready
	advancec chan struct{}
	tickc    chan struct{}
	done     chan struct{}
	stop     chan struct{}
	status   chan chan Status
	rn       *RawNode
}

// StartNode starts a member of a new cluster with the given peers (see
// RawNode.Bootstrap). With no peers it restarts from storage.
func StartNode(c *Config, peers []Peer) (Node, error) {
	rn, err := NewRawNode(c)
	if err != nil {
		return nil, err
	}
	if len(peers) > 0 {
		if err := rn.Bootstrap(peers); err != nil {
			return nil, err
		}
	}
	n := newNode(rn)
	go n.run()
	return n, nil
}

// RestartNode starts a member from what its storage holds.
func RestartNode(c *Config) (Node, error) { return StartNode(c, nil) }

func newNode(rn *RawNode) *node {
	return &node{
		propc:    make(chan msgWithResult),
		recvc:    make(chan pb.Message),
		confc:    make(chan confChangeRequest),
		readyc:   make(chan Ready),
		advancec: make(chan struct{}),
		// Ticks are buffered so a busy loop does not block the ticker;
		// beyond that they are dropped, which only delays timeouts.
		tickc:  make(chan struct{}, 128),
		done:   make(chan struct{}),
		stop:   make(chan struct{}),
		status: make(chan chan Status),
		rn:     rn,
	}
}

func (n *node) run() {
	var readyc chan Ready
	var advancec chan struct{}
	var rd Ready
	r := n.rn.raft
	for {
		if advancec == nil && readyc == nil && n.rn.HasReady() {
			rd = n.rn.Ready()
			readyc = n.readyc
		}
		select {
		case pm := <-n.propc:
			// Without a leader this fails at once with ErrNoLeader: the
			// caller decides whether to wait and retry.
			err := r.Step(pm.m)
			if pm.result != nil && (err != nil || !pm.refusalOnly) {
				pm.result <- err
			}
		case m := <-n.recvc:
			if IsResponseMsg(m.Type) && r.trk.Progress[m.From] == nil {
				break // a response from someone we do not know
			}
			_ = r.Step(m)
		case req := <-n.confc:
			cs, err := n.rn.ApplyConfChange(req.cc)
			req.result <- confChangeResult{cs: cs, err: err}
		case <-n.tickc:
			n.rn.Tick()
		case readyc <- rd:
			readyc = nil
			advancec = n.advancec
		case <-advancec:
			n.rn.Advance(rd)
			rd = Ready{}
			advancec = nil
		case c := <-n.status:
			c <- getStatus(r)
		case <-n.stop:
			close(n.done)
			return
		}
	}
}

func (n *node) Tick() {
	select {
	case n.tickc <- struct{}{}:
	case <-n.done:
	default:
		n.rn.raft.logger.Warningf("raft %x: a tick was missed because the node is busy", n.rn.raft.id)
	}
}

func (n *node) Campaign(ctx context.Context) error {
	return n.step(ctx, pb.Message{Type: pb.MsgHup})
}

func (n *node) Propose(ctx context.Context, data []byte) error {
	return n.stepWait(ctx, pb.Message{Type: pb.MsgProp, Entries: []pb.Entry{{Data: data}}})
}

func (n *node) ProposeAsync(ctx context.Context, data []byte) (<-chan error, error) {
	if err := ctx.Err(); err != nil {
		return nil, err // see step
	}
	pm := msgWithResult{m: pb.Message{Type: pb.MsgProp, Entries: []pb.Entry{{Data: data}}}, result: make(chan error, 1), refusalOnly: true}
	select {
	case n.propc <- pm:
		return pm.result, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-n.done:
		return nil, ErrStopped
	}
}

func (n *node) ProposeConfChange(ctx context.Context, cc pb.ConfChange) error {
	data, err := cc.Marshal()
	if err != nil {
		return err
	}
	return n.stepWait(ctx, pb.Message{Type: pb.MsgProp, Entries: []pb.Entry{{Type: pb.EntryConfChange, Data: data}}})
}

func (n *node) Step(ctx context.Context, m pb.Message) error {
	if IsLocalMsg(m.Type) {
		return ErrStepLocalMsg
	}
	return n.step(ctx, m)
}

func (n *node) TransferLeadership(ctx context.Context, lead, transferee uint64) {
	select {
	case n.recvc <- pb.Message{Type: pb.MsgTransferLeader, From: transferee, To: lead}:
	case <-ctx.Done():
	case <-n.done:
	}
}

func (n *node) ReadIndex(ctx context.Context, rctx []byte) error {
	// Waits for raft's verdict, so that ErrNoLeader reaches the caller.
	return n.stepWait(ctx, pb.Message{Type: pb.MsgReadIndex, Entries: []pb.Entry{{Data: rctx}}})
}

func (n *node) ReportUnreachable(id uint64) {
	select {
	case n.recvc <- pb.Message{Type: pb.MsgUnreachable, From: id}:
	case <-n.done:
	}
}

func (n *node) ReportSnapshot(id uint64, status SnapshotStatus) {
	select {
	case n.recvc <- pb.Message{Type: pb.MsgSnapStatus, From: id, Reject: status == SnapshotFailure}:
	case <-n.done:
	}
}

// step delivers m to the raft goroutine without waiting for its outcome.
func (n *node) step(ctx context.Context, m pb.Message) error {
	// select picks at random among ready cases: without this, a cancelled
	// context would still deliver m half of the time.
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case n.recvc <- m:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-n.done:
		return ErrStopped
	}
}

// stepWait delivers a proposal and waits until raft accepts or refuses it.
// An error means the proposal is not in the log: a context error is
// returned only if the proposal never reached raft.
func (n *node) stepWait(ctx context.Context, m pb.Message) error {
	if err := ctx.Err(); err != nil {
		return err // see step
	}
	pm := msgWithResult{m: m, result: make(chan error, 1)}
	select {
	case n.propc <- pm:
	case <-ctx.Done():
		return ctx.Err()
	case <-n.done:
		return ErrStopped
	}
	// Once raft has the proposal, its answer comes at once; waiting for
	// it rather than for ctx keeps the error truthful.
	select {
	case err := <-pm.result:
		return err
	case <-n.done:
		return ErrStopped
	}
}

func (n *node) Ready() <-chan Ready { return n.readyc }

func (n *node) Advance() {
	select {
	case n.advancec <- struct{}{}:
	case <-n.done:
	}
}

func (n *node) ApplyConfChange(cc pb.ConfChange) (pb.ConfState, error) {
	req := confChangeRequest{cc: cc, result: make(chan confChangeResult, 1)}
	select {
	case n.confc <- req:
	case <-n.done:
		return pb.ConfState{}, ErrStopped
	}
	select {
	case res := <-req.result:
		return res.cs, res.err
	case <-n.done:
		return pb.ConfState{}, ErrStopped
	}
}

func (n *node) Status() Status {
	c := make(chan Status, 1)
	select {
	case n.status <- c:
		return <-c
	case <-n.done:
		return Status{}
	}
}

func (n *node) Stop() {
	select {
	case n.stop <- struct{}{}:
		<-n.done
	case <-n.done:
	}
}
