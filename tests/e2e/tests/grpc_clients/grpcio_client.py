"""A Python grpcio client with a default channel, as grpc-core clients use.

Usage: grpcio_client.py SOCKET NAMESPACE DIGEST [AUTHORITY]

AUTHORITY, if given, is set as the channel's `grpc.default_authority`
(what newer grpc-core releases send on `unix:` targets by default).

Makes unary and server-streaming calls against containerd's API with
hand-encoded protobuf messages (no generated stubs needed) and prints one
JSON object with what it got. Any failed call raises, so the process exits
non-zero with grpc's error on stderr.
"""

import json
import sys

import grpc


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(number, payload):
    """A length-delimited field (strings, bytes, messages)."""
    if isinstance(payload, str):
        payload = payload.encode()
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def parse(data):
    """Top-level fields of a message: {number: [value, ...]}; varints as
    ints, length-delimited fields as bytes."""
    fields, i = {}, 0
    while i < len(data):
        key, i = read_varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = read_varint(data, i)
        elif wire == 2:
            size, i = read_varint(data, i)
            value, i = data[i : i + size], i + size
        elif wire == 1:
            value, i = data[i : i + 8], i + 8
        elif wire == 5:
            value, i = data[i : i + 4], i + 4
        else:
            raise ValueError(f"wire type {wire}")
        fields.setdefault(number, []).append(value)
    return fields


def read_varint(data, i):
    shift = result = 0
    while True:
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return result, i


def main():
    socket, namespace, digest = sys.argv[1:4]
    options = [("grpc.default_authority", a) for a in sys.argv[4:5]]
    channel = grpc.insecure_channel("unix://" + socket, options=options)
    ident = lambda b: b

    def unary(method, request=b"", metadata=None):
        call = channel.unary_unary(
            method, request_serializer=ident, response_deserializer=ident
        )
        return call(request, timeout=30, metadata=metadata)

    out = {}
    version = parse(unary("/containerd.services.version.v1.Version/Version"))
    out["version"] = version[1][0].decode()

    names = parse(unary("/containerd.services.namespaces.v1.Namespaces/List"))
    out["namespaces_before"] = sorted(parse(n)[1][0].decode() for n in names.get(1, []))

    # The Go client's first call: the labels of a namespace nobody created.
    got = parse(
        unary(
            "/containerd.services.namespaces.v1.Namespaces/Get",
            field(1, "py-never-created"),
        )
    )
    ns = parse(got[1][0])
    out["get_missing"] = {"name": ns[1][0].decode(), "labels": len(ns.get(2, []))}

    # SetLabel on a fresh namespace: Update with mask labels.<key>.
    label = field(1, "py.test/label") + field(2, "yes")
    update = field(1, field(1, "py-labelled") + field(2, label)) + field(
        2, field(1, "labels.py.test/label")
    )
    unary("/containerd.services.namespaces.v1.Namespaces/Update", update)
    names = parse(unary("/containerd.services.namespaces.v1.Namespaces/List"))
    out["namespaces_after"] = sorted(parse(n)[1][0].decode() for n in names.get(1, []))

    # A server-streaming call: read the whole blob back.
    read = channel.unary_stream(
        "/containerd.services.content.v1.Content/Read",
        request_serializer=ident,
        response_deserializer=ident,
    )
    size, chunks = 0, 0
    for message in read(
        field(1, digest),
        timeout=60,
        metadata=(("containerd-namespace", namespace),),
    ):
        chunks += 1
        size += len(parse(message).get(2, [b""])[0])
    out["read"] = {"size": size, "messages": chunks}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
