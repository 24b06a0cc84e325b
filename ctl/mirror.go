package ctl

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/mirror"
)

// mirrorOptions are the flags of "make-mirror".
type mirrorOptions struct {
	prefix, destPrefix string
	noDestPrefix       bool
	rev                int64
	maxTxnOps          uint
	cert, key, cacert  string
	insecureTransport  bool
	user, password     string
}

// mirrorProgressEvery is how often make-mirror prints how many keys it has
// copied so far, as etcdctl does.
const mirrorProgressEvery = 30 * time.Second

func (e *env) newMakeMirrorCommand() *cobra.Command {
	var o mirrorOptions
	cmd := &cobra.Command{
		Use:     "make-mirror [options] <destination>",
		Short:   "Makes a mirror at the destination etcd cluster",
		GroupID: groupUtility,
	}
	fs := cmd.Flags()
	fs.StringVar(&o.prefix, "prefix", "", "Key-value prefix to mirror")
	fs.Int64Var(&o.rev, "rev", 0, "Specify the kv revision to start to mirror")
	fs.UintVar(&o.maxTxnOps, "max-txn-ops", 128, "Maximum number of operations permitted in a transaction during syncing updates.")
	fs.StringVar(&o.destPrefix, "dest-prefix", "", "destination prefix to mirror a prefix to a different prefix in the destination cluster")
	fs.BoolVar(&o.noDestPrefix, "no-dest-prefix", false, "mirror key-values to the root of the destination cluster")
	fs.StringVar(&o.cert, "dest-cert", "", "Identify secure client using this TLS certificate file for the destination cluster")
	fs.StringVar(&o.key, "dest-key", "", "Identify secure client using this TLS key file")
	fs.StringVar(&o.cacert, "dest-cacert", "", "Verify certificates of TLS enabled secure servers using this CA bundle")
	fs.BoolVar(&o.insecureTransport, "dest-insecure-transport", true, "Disable transport security for client connections")
	fs.StringVar(&o.user, "dest-user", "", "Destination username[:password] for authentication (prompt if password is not supplied)")
	fs.StringVar(&o.password, "dest-password", "", "Destination password for authentication (if this option is used, --user option shouldn't include password)")
	cmd.RunE = run(func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			return fail(ExitBadArgs, errors.New("make-mirror takes one destination argument"))
		}
		spec, err := e.clientSpec(cmd)
		if err != nil {
			return err
		}
		destSpec := &clientv3.ConfigSpec{
			Endpoints:          []string{args[0]},
			DialTimeout:        spec.DialTimeout,
			KeepAliveTime:      spec.KeepAliveTime,
			KeepAliveTimeout:   spec.KeepAliveTimeout,
			MaxCallSendMsgSize: spec.MaxCallSendMsgSize,
			MaxCallRecvMsgSize: spec.MaxCallRecvMsgSize,
			Secure: &clientv3.SecureConfig{
				Cert:              o.cert,
				Key:               o.key,
				Cacert:            o.cacert,
				InsecureTransport: o.insecureTransport,
			},
		}
		if destSpec.Auth, err = e.destAuth(&o); err != nil {
			return err
		}
		dest, err := e.dial(destSpec)
		if err != nil {
			return err
		}
		defer dest.Close()
		src, err := e.dial(spec)
		if err != nil {
			return err
		}
		defer src.Close()
		if o.noDestPrefix && o.destPrefix != "" {
			return fail(ExitBadArgs, errors.New("`--dest-prefix` and `--no-dest-prefix` cannot be set at the same time, choose one"))
		}
		if err := e.makeMirror(context.Background(), src, dest, &o); err != nil {
			return fail(ExitError, err)
		}
		return nil
	})
	return cmd
}

// destAuth is --dest-user and --dest-password as authConfig reads --user
// and --password.
func (e *env) destAuth(o *mirrorOptions) (*clientv3.AuthConfig, error) {
	switch {
	case o.user == "":
		return nil, nil
	case o.password != "":
		return &clientv3.AuthConfig{Username: o.user, Password: o.password}, nil
	}
	if name, pass, ok := strings.Cut(o.user, ":"); ok {
		return &clientv3.AuthConfig{Username: name, Password: pass}, nil
	}
	pass, err := e.askPassword("Destination Password: ")
	if err != nil {
		return nil, fail(ExitError, err)
	}
	return &clientv3.AuthConfig{Username: o.user, Password: pass}, nil
}

// makeMirror copies the source's keys under --prefix (all of them, unless
// --rev says where to start) and then follows its changes, applying each
// source revision's events to the destination in transactions of at most
// --max-txn-ops operations. It returns only on an error.
func (e *env) makeMirror(ctx context.Context, src, dest *clientv3.Client, o *mirrorOptions) error {
	var total atomic.Int64
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(mirrorProgressEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fmt.Fprintln(e.stdout, total.Load())
			}
		}
	}()

	destPrefix := o.destPrefix
	if !o.noDestPrefix && destPrefix == "" {
		destPrefix = o.prefix
	}
	// The key's first occurrence of the prefix, as etcdctl replaces it
	// (with an empty --prefix, the destination prefix is prepended).
	rename := func(key []byte) string { return strings.Replace(string(key), o.prefix, destPrefix, 1) }

	startRev := max(o.rev-1, 0)
	s := mirror.NewSyncer(src, o.prefix, startRev)
	if startRev == 0 {
		rc, errc := s.SyncBase(ctx)
		for r := range rc {
			for _, kv := range r.Kvs {
				if _, err := dest.Put(ctx, rename(kv.Key), string(kv.Value)); err != nil {
					return err
				}
				total.Add(1)
			}
		}
		if err := <-errc; err != nil {
			return err
		}
	}

	var ops []clientv3.Op
	flush := func() error {
		if len(ops) == 0 {
			return nil
		}
		_, err := dest.Txn(ctx).Then(ops...).Commit()
		ops = ops[:0]
		return err
	}
	for wr := range s.SyncUpdates(ctx) {
		if wr.CompactRevision != 0 {
			return rpctypes.ErrCompacted
		}
		var rev int64
		for _, ev := range wr.Events {
			// A transaction holds one source revision's events at most,
			// so the destination never shows half a revision... unless a
			// revision has more than --max-txn-ops events.
			if (rev != 0 && ev.Kv.ModRevision > rev) || len(ops) == int(o.maxTxnOps) {
				if err := flush(); err != nil {
					return err
				}
			}
			rev = ev.Kv.ModRevision
			switch ev.Type {
			case mvccpb.PUT:
				ops = append(ops, clientv3.OpPut(rename(ev.Kv.Key), string(ev.Kv.Value)))
			case mvccpb.DELETE:
				ops = append(ops, clientv3.OpDelete(rename(ev.Kv.Key)))
			default:
				return fmt.Errorf("unexpected event type %v", ev.Type)
			}
			total.Add(1)
		}
		if err := flush(); err != nil {
			return err
		}
	}
	return ctx.Err()
}
