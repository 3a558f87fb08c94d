// A Go program on containerd 1.6's own client library (Debian's
// golang-github-containerd-containerd-dev) making the calls Go programs
// make first, against a daemon that has no namespace yet. It prints one
// JSON object with what it saw and exits non-zero on the first error.
//
// Usage: go_client SOCKET
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/content"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/images"
	"github.com/containerd/containerd/leases"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/snapshots"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

type result struct {
	Version        string            `json:"version"`
	ServerUUID     string            `json:"server_uuid"`
	LabelledLabels map[string]string `json:"labelled_labels"`
	MissingLabels  map[string]string `json:"missing_labels"`
	Namespaces     []string          `json:"namespaces"`
	Containers     int               `json:"containers"`
	Images         int               `json:"images"`
	Snapshots      int               `json:"snapshots"`
	Statuses       int               `json:"statuses"`
	Leases         int               `json:"leases"`
	Writes         writes            `json:"writes"`
}

type writes struct {
	ContentLabels   map[string]string `json:"content_labels"`
	ImageLabels     map[string]string `json:"image_labels"`
	ContainerLabels map[string]string `json:"container_labels"`
	// Whether deleting the namespace while it holds content and an image
	// was refused with FailedPrecondition.
	DeleteRefused bool `json:"delete_refused"`
	// Whether it was deleted once emptied.
	DeletedAfter bool `json:"deleted_after"`
}

func main() {
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(socket string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// New reads the labels of the default namespace, which nobody created.
	client, err := containerd.New(socket, containerd.WithDefaultNamespace("go-default"))
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer client.Close()
	var out result
	version, err := client.Version(ctx)
	if err != nil {
		return fmt.Errorf("version: %w", err)
	}
	out.Version = version.Version
	server, err := client.Server(ctx)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	out.ServerUUID = server.UUID

	ns := client.NamespaceService()
	// Many programs' first call: label a namespace that does not exist yet.
	if err := ns.SetLabel(ctx, "go-labelled", "go.test/label", "yes"); err != nil {
		return fmt.Errorf("SetLabel: %w", err)
	}
	if out.LabelledLabels, err = ns.Labels(ctx, "go-labelled"); err != nil {
		return fmt.Errorf("labels: %w", err)
	}
	if out.MissingLabels, err = ns.Labels(ctx, "go-missing"); err != nil {
		return fmt.Errorf("labels of a missing namespace: %w", err)
	}
	if out.Namespaces, err = ns.List(ctx); err != nil {
		return fmt.Errorf("namespaces: %w", err)
	}

	// Reads in a namespace that does not exist answer empty.
	fresh := namespaces.WithNamespace(ctx, "go-fresh")
	containers, err := client.Containers(fresh)
	if err != nil {
		return fmt.Errorf("containers: %w", err)
	}
	out.Containers = len(containers)
	images, err := client.ListImages(fresh)
	if err != nil {
		return fmt.Errorf("images: %w", err)
	}
	out.Images = len(images)
	err = client.SnapshotService(containerd.DefaultSnapshotter).Walk(fresh, func(context.Context, snapshots.Info) error {
		out.Snapshots++
		return nil
	})
	if err != nil {
		return fmt.Errorf("snapshots: %w", err)
	}
	statuses, err := client.ContentStore().ListStatuses(fresh)
	if err != nil {
		return fmt.Errorf("content statuses: %w", err)
	}
	out.Statuses = len(statuses)
	err = client.ContentStore().Walk(fresh, func(content.Info) error { return nil })
	if err != nil {
		return fmt.Errorf("content: %w", err)
	}

	// A write creates its namespace: a lease, as a pull starts with.
	leased := namespaces.WithNamespace(ctx, "go-leased")
	manager := client.LeasesService()
	if _, err := manager.Create(leased, leases.WithRandomID(), leases.WithExpiration(time.Hour)); err != nil {
		return fmt.Errorf("lease create: %w", err)
	}
	list, err := manager.List(leased)
	if err != nil {
		return fmt.Errorf("lease list: %w", err)
	}
	out.Leases = len(list)
	if out.Writes, err = writeObjects(client, namespaces.WithNamespace(ctx, "go-writes")); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

// writeObjects writes a blob (twice), an image and a container into a
// namespace nobody created, updates their labels through field paths, and
// deletes the namespace before and after emptying it.
func writeObjects(client *containerd.Client, ctx context.Context) (writes, error) {
	var w writes
	cs := client.ContentStore()
	data := []byte(`{"schemaVersion":2}`)
	desc := ocispec.Descriptor{
		MediaType: ocispec.MediaTypeImageManifest,
		Digest:    digest.FromBytes(data),
		Size:      int64(len(data)),
	}
	for i := 0; i < 2; i++ {
		if err := content.WriteBlob(ctx, cs, "go-blob", bytes.NewReader(data), desc); err != nil {
			return w, fmt.Errorf("write blob (%d): %w", i, err)
		}
	}
	info, err := cs.Update(ctx, content.Info{Digest: desc.Digest, Labels: map[string]string{"go.test/c": "1"}}, "labels.go.test/c")
	if err != nil {
		return w, fmt.Errorf("content update: %w", err)
	}
	w.ContentLabels = info.Labels

	is := client.ImageService()
	if _, err := is.Create(ctx, images.Image{Name: "go.test/image:1", Target: desc}); err != nil {
		return w, fmt.Errorf("image create: %w", err)
	}
	image, err := is.Update(ctx, images.Image{Name: "go.test/image:1", Labels: map[string]string{"go.test/i": "1"}}, "labels.go.test/i")
	if err != nil {
		return w, fmt.Errorf("image update: %w", err)
	}
	w.ImageLabels = image.Labels

	container, err := client.NewContainer(ctx, "go-container", containerd.WithNewSpec(), containerd.WithRuntime("io.containerd.runc.v2", nil))
	if err != nil {
		return w, fmt.Errorf("container create: %w", err)
	}
	if _, err := container.SetLabels(ctx, map[string]string{"go.test/k": "v"}); err != nil {
		return w, fmt.Errorf("container set labels: %w", err)
	}
	if w.ContainerLabels, err = container.Labels(ctx); err != nil {
		return w, fmt.Errorf("container labels: %w", err)
	}
	if err := container.Delete(ctx); err != nil {
		return w, fmt.Errorf("container delete: %w", err)
	}

	ns := client.NamespaceService()
	err = ns.Delete(ctx, "go-writes")
	w.DeleteRefused = errdefs.IsFailedPrecondition(err)
	if err := is.Delete(ctx, "go.test/image:1"); err != nil {
		return w, fmt.Errorf("image delete: %w", err)
	}
	if err := cs.Delete(ctx, desc.Digest); err != nil {
		return w, fmt.Errorf("content delete: %w", err)
	}
	if err := ns.Delete(ctx, "go-writes"); err != nil {
		return w, fmt.Errorf("namespace delete once empty: %w", err)
	}
	w.DeletedAfter = true
	return w, nil
}
