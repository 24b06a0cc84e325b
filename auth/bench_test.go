package auth

import (
	"fmt"
	"testing"

	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"golang.org/x/crypto/bcrypt"
)

// BenchmarkPermissionCheck is the check every request of a non-root user
// pays, against a role with many permissions.
func BenchmarkPermissionCheck(b *testing.B) {
	for _, perms := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("%d-permissions", perms), func(b *testing.B) {
			be := memBackend{}
			if err := Init(be, be); err != nil {
				b.Fatal(err)
			}
			s := New(nil, bcrypt.MinCost, nil)
			if err := s.Recover(be); err != nil {
				b.Fatal(err)
			}
			for _, err := range []error{
				s.UserAdd(be, &pb.AuthUserAddRequest{Name: "root", Options: &authpb.UserAddOptions{NoPassword: true}}),
				s.UserGrantRole(be, &pb.AuthUserGrantRoleRequest{User: "root", Role: "root"}),
				s.UserAdd(be, &pb.AuthUserAddRequest{Name: "u", Options: &authpb.UserAddOptions{NoPassword: true}}),
				s.RoleAdd(be, &pb.AuthRoleAddRequest{Name: "r"}),
			} {
				if err != nil {
					b.Fatal(err)
				}
			}
			for i := range perms {
				k := fmt.Sprintf("p%06d/", i)
				if err := s.RoleGrantPermission(be, &pb.AuthRoleGrantPermissionRequest{Name: "r",
					Perm: &authpb.Permission{Key: []byte(k), RangeEnd: []byte(k[:len(k)-1] + "0"), PermType: authpb.READWRITE}}); err != nil {
					b.Fatal(err)
				}
			}
			if err := s.UserGrantRole(be, &pb.AuthUserGrantRoleRequest{User: "u", Role: "r"}); err != nil {
				b.Fatal(err)
			}
			if err := s.Enable(be); err != nil {
				b.Fatal(err)
			}
			info := &Info{Username: "u", Revision: s.Revision()}
			key := []byte(fmt.Sprintf("p%06d/k", perms/2))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := s.IsPutPermitted(info, key); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
