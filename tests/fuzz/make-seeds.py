#!/usr/bin/env python3
"""Writes the seed corpora in tests/fuzz/corpus/<target>/: a few small, well-formed inputs
per target that take the fuzzer to the interesting paths at once. The files are committed;
run this again only after changing an input format (tests/fuzz/README.md describes them)."""

import gzip
import pathlib
import shutil
import struct

CORPUS = pathlib.Path(__file__).resolve().parent / 'corpus'
seeds = {}


def seed(target, name, data):
    seeds.setdefault(target, {})[name] = bytes(data)


# virtqueue_fuzz: a direct and an indirect chain, with and without event-idx, in each RAM.
def virtqueue(flags, base):
    ram = bytearray(0x640)

    def desc(at, i, addr, length, fl, nxt):
        struct.pack_into('<QIHH', ram, at + 16 * i, base + addr, length, fl, nxt)

    desc(0, 0, 0x400, 16, 1, 1)  # readable, NEXT -> 1
    desc(0, 1, 0x410, 32, 2, 0)  # writable
    desc(0, 2, 0x440, 8, 0, 0)  # readable, alone
    desc(0, 3, 0x500, 48, 4, 0)  # an indirect table of three
    desc(0x500, 0, 0x600, 4, 1, 1)
    desc(0x500, 1, 0x610, 8, 3, 2)
    desc(0x500, 2, 0x620, 1, 2, 0)
    struct.pack_into('<HHHHHHH', ram, 0x100, 0, 3, 0, 2, 3, 0, 0)  # avail: 3 chains
    header = struct.pack('<HHBHHHBHHHH', 256, 4, flags, 0, 0x100, 0x200, 0, 0, 0, 0, 0)
    return header + bytes(ram)


seed('virtqueue_fuzz', 'seed-low', virtqueue(0x06, 0))
seed('virtqueue_fuzz', 'seed-high-event-idx', virtqueue(0x87, 0x4000_0000))


# virtio_block_fuzz: a setup byte, then requests (buffer count, per buffer flags and length,
# then the readable buffers' bytes).
def blk_header(kind, sector):
    return struct.pack('<IIQ', kind, 0, sector)


def blk_request(buffers, readable):
    out = bytearray([len(buffers) - 1])
    for writable, length in buffers:
        out += struct.pack('<BH', 1 if writable else 0, length)
    return bytes(out) + readable


blk_in = blk_request([(False, 16), (True, 512), (True, 1)], blk_header(0, 1))
blk_out = blk_request([(False, 16), (False, 1024), (True, 1)],
                      blk_header(1, 3) + bytes((i * 13) & 0xff for i in range(1024)))
blk_split = blk_request([(False, 4), (False, 12), (False, 100), (False, 412), (True, 300),
                         (True, 213)], blk_header(1, 0)[:4] + blk_header(1, 0)[4:] + bytes(512))
blk_id = blk_request([(False, 16), (True, 21)], blk_header(8, 0))
blk_flush = blk_request([(False, 16), (True, 1)], blk_header(4, 0))
blk_discard = blk_request([(False, 16), (False, 32), (True, 1)],
                          blk_header(11, 0) + struct.pack('<QII', 0, 8, 0) +
                          struct.pack('<QII', 8, 8, 0))
blk_past_end = blk_request([(False, 16), (True, 1024), (True, 1)], blk_header(0, 15))
seed('virtio_block_fuzz', 'read-write', bytes([0x04]) + blk_in + blk_out + blk_in)
seed('virtio_block_fuzz', 'split-buffers', bytes([0x04]) + blk_split + blk_past_end)
seed('virtio_block_fuzz', 'id-flush-discard', bytes([0x06]) + blk_id + blk_flush + blk_discard)
seed('virtio_block_fuzz', 'read-only-odd-size', bytes([0x0b]) + blk_out + blk_in + blk_id)


# virtio_console_fuzz: a setup byte, then chains (queue and buffer count, per buffer flags
# and length, then the readable buffers' bytes); the control handshake as Linux does it.
def vc_chain(queue, buffers, readable=b''):
    out = bytearray([queue | (len(buffers) - 1) << 3])
    for writable, length in buffers:
        out += struct.pack('<BH', 1 if writable else 0, length)
    return bytes(out) + readable


def vc_control(port, event, value):
    return vc_chain(3, [(False, 8)], struct.pack('<IHH', port, event, value))


vc_buffers = b''.join(vc_chain(2, [(True, 64)]) for _ in range(6))
vc_handshake = (vc_buffers + vc_control(0, 0, 1) + vc_control(0, 3, 1) + vc_control(1, 3, 1) +
                vc_control(0, 6, 1))
seed('virtio_console_fuzz', 'handshake-io', bytes([0x03]) + vc_handshake +
     vc_chain(0, [(True, 3)]) + vc_chain(0, [(True, 16)]) +
     vc_chain(1, [(False, 6), (False, 4)], b'hello-port') + vc_chain(5, [(False, 3)], b'log'))
seed('virtio_console_fuzz', 'big-input', bytes([0x07]) + vc_handshake +
     b''.join(vc_chain(0, [(True, 2048), (True, 1000)]) for _ in range(3)))
seed('virtio_console_fuzz', 'bad-control', bytes([0x01]) + vc_buffers +
     vc_chain(3, [(False, 3)], b'abc') + vc_control(9, 3, 1) + vc_control(0, 42, 0) +
     vc_chain(3, [(False, 2), (False, 6)], struct.pack('<IHH', 0, 0, 1)) +
     vc_chain(3, [(True, 8)]))
seed('virtio_console_fuzz', 'single-port', bytes([0x02]) + vc_chain(0, [(True, 64)]) +
     vc_chain(1, [(False, 5)], b'plain') + vc_chain(5, [(False, 4)], b'lost'))

# vhost_user_fuzz: features, ring layouts, then the backend's replies in chunks.
VERSION_1, EVENT_IDX, PROTOCOL_FEATURES, REPLY_ACK = 1 << 32, 1 << 29, 1 << 30, 1 << 3


def vu_reply(request, payload):
    return struct.pack('<III', request, 0x5, len(payload)) + payload


def vu_chunks(data, fds=0):
    out = bytearray()
    for at in range(0, len(data), 32):
        part = data[at:at + 32]
        out += bytes([(len(part) - 1) << 3 | fds]) + part
    return bytes(out)


def vu_rings():
    out = struct.pack('<QB', VERSION_1 | EVENT_IDX, 2)
    out += struct.pack('<BHHHH', 0, 16, 0x0, 0x100, 0x200)
    out += struct.pack('<BHHHH', 1, 16, 0x1000, 0x1100, 0x1200)
    return out


def u64(value):
    return struct.pack('<Q', value)


def acked_rings():
    replies = vu_reply(2, u64(0))  # SET_FEATURES
    for _ in range(2):
        for request in (8, 10, 9, 13, 12, 18):  # NUM, BASE, ADDR, CALL, KICK, ENABLE
            replies += vu_reply(request, u64(0))
    return replies


with_ack = (vu_reply(1, u64(VERSION_1 | EVENT_IDX | PROTOCOL_FEATURES)) +
            vu_reply(15, u64(REPLY_ACK | 1)) + vu_reply(5, u64(0)) + acked_rings() +
            vu_reply(11, struct.pack('<II', 0, 7)) + vu_reply(11, struct.pack('<II', 1, 3)) +
            acked_rings())
seed('vhost_user_fuzz', 'reply-ack', vu_rings() + b''.join(
    vu_chunks(with_ack[at:at + 20]) for at in range(0, len(with_ack), 20)))
plain = (vu_reply(1, u64(VERSION_1)) + vu_reply(11, struct.pack('<II', 0, 0)) +
         vu_reply(11, struct.pack('<II', 1, 0)))
seed('vhost_user_fuzz', 'no-protocol-features', vu_rings() + vu_chunks(plain[:20]) +
     vu_chunks(plain[20:40], fds=1) + vu_chunks(plain[40:], fds=5))
seed('vhost_user_fuzz', 'refused', vu_rings() + vu_chunks(
    vu_reply(1, u64(VERSION_1 | PROTOCOL_FEATURES)) + vu_reply(15, u64(REPLY_ACK)) +
    vu_reply(5, u64(1))))

# config_fuzz: a mode byte, the TOML text, then NUL-separated overrides ("FKEY=VALUE").
CONFIG = b'''name = "demo"
on_reset = "restart"

[machine]
vcpus = 2
memory = "512M"

[boot]
kernel = "Image"
initrd = "initrd.img"
cmdline = "console=ttyS0 panic=-1"

[console]
mode = "stdio"
log = "console.log"

[[drive]]
path = "disk.img"
read_only = false
id = "rootdisk"

[[drive]]
path = 'data.img'
read_only = true

[[net]]
tap = "tap0"
mac = "52:54:00:12:34:56"

[[share]]
path = "src"
tag = "src"
read_only = true

[rng]

[test_exit]
'''


def overrides(*entries):
    return b''.join(b'\0' + e for e in entries)


seed('config_fuzz', 'file', b'\0' + CONFIG)
seed('config_fuzz', 'file-overrides', b'\0' + CONFIG + overrides(
    b'gmachine.vcpus=4', b'gmachine.memory=1G', b'gdrive[1].read_only=false',
    b'sdrive[].path=disk.img', b'gnet[0]={ tap = "tap1" }', b'aboot.cmdline=quiet'))
seed('config_fuzz', 'quick', b'\x01' + overrides(
    b'sboot.kernel=Image', b'gmachine.memory=256M', b'sshare[].path=src',
    b'gshare[0].tag=host', b'gconsole.mode=none', b'a boot.cmdline=rdinit=sh'))
seed('config_fuzz', 'loaded', b'\x02' + b'[boot]\nkernel = "Image"\n[machine]\nvcpus = 0x10\n' +
     overrides(b'gtest_exit={}'))
seed('config_fuzz', 'mistake', b'\0' + b'[machine]\nvcpu = 2\n[boot]\nkernel = "Missing"\n')


# image_fuzz: mode, a u16 parameter, a u32 load limit and a u32 load offset, then the payload.
def arm64_image(text_offset, image_size, length):
    header = struct.pack('<IIQQQQQQII', 0x14000010, 0, text_offset, image_size, 0x2, 0, 0, 0,
                         0x644d5241, 0)
    return header + bytes((i * 31 + 7) & 0xff for i in range(length - len(header)))


image = arm64_image(0, 0x10000, 512)
seed('image_fuzz', 'raw-load', struct.pack('<BHII', 0x0c, 0, 0x10000, 0x1000) + image)
seed('image_fuzz', 'gzip-whole-load', struct.pack('<BHII', 0x0d, 0, 0x10000, 0) + image)
seed('image_fuzz', 'gzip-cut', struct.pack('<BHII', 0x06, 100, 0, 0) + image)
seed('image_fuzz', 'gzip-padded', struct.pack('<BHII', 0x0f, 64, 0x10000, 0x2000) +
     b'\0' + image[1:])
seed('image_fuzz', 'legacy', struct.pack('<BHII', 0x04, 0, 0, 0) + arm64_image(0x1000, 0, 256))
seed('image_fuzz', 'raw-gzip-file', struct.pack('<BHII', 0x0c, 0, 0x20000, 0) +
     gzip.compress(image, mtime=0))


# fdt_fuzz: flags, vCPUs, RAM, device counts, kernel and initrd sizes, command line, then the
# extra device's program.
def fdt_seed(flags, vcpus, drives, nets, shares, cmdline, program=b''):
    out = struct.pack('<BHHBBB', flags, vcpus - 1, (512 - 64) // 2, drives, nets, shares)
    out += struct.pack('<III', 0, 0x200000, 0x10000)
    return out + struct.pack('<H', len(cmdline)) + cmdline + program


seed('fdt_fuzz', 'small', fdt_seed(0x0a, 1, 1, 0, 0, b'console=ttyS0 panic=-1'))
seed('fdt_fuzz', 'all-devices', fdt_seed(0x0e, 4, 16, 8, 8, b'console=ttyS0 root=vda'))
seed('fdt_fuzz', 'gicv2-many-cpus', fdt_seed(0x01, 300, 2, 1, 1, b'x' * 200))
# The extra device: kind "fuzz", two compatible strings, two values, an edge interrupt, the
# bus clock and one flag.
def name(text):
    chars = 'abcdefghijklmnopqrstuvwxyz0123456789,._+-'
    return bytes([len(text) - 1]) + bytes(chars.index(c) for c in text)


extra = (name('fuzz') + bytes([0x02 | (2 << 2) | 0x20 | 0x40 | 0x80]) +
         bytes([len(b'petrel,fuzz')]) + b'petrel,fuzz' + bytes([len(b'arm,primecell')]) +
         b'arm,primecell' + name('clock-frequency') + struct.pack('<I', 1843200) +
         name('reg-shift') + struct.pack('<I', 2) + bytes([17, 0]) + name('dma-coherent'))
seed('fdt_fuzz', 'extra-device', fdt_seed(0x1a, 2, 1, 1, 0, b'console=ttyS0', extra))

# api_fuzz: a selector byte (public state = byte % 3, route = (byte >> 2) % 8, bit 7: the guest
# has a power button), then the body.
def api_seed(state, route, button, body):
    for selector in range(256):
        if selector % 3 == state and (selector >> 2) % 8 == route and bool(selector & 0x80) == button:
            return bytes([selector]) + body
    raise ValueError('no selector')


seed('api_fuzz', 'get-info', api_seed(1, 0, False, b''))
seed('api_fuzz', 'ctrl-alt-del', api_seed(1, 2, True, b'{"action_type": "SendCtrlAltDel"}'))
seed('api_fuzz', 'stop-grace', api_seed(1, 2, False, b'{"action_type":"Stop","grace_ms":1500}'))
seed('api_fuzz', 'pause', api_seed(1, 3, False, b'{"state": "Paused"}'))
seed('api_fuzz', 'resume-paused', api_seed(2, 4, False, b'{"state":"Resumed"}'))
seed('api_fuzz', 'bad-json', api_seed(0, 3, False, b'{"state": ["Paused", {"x": 1e999}]'))

for target, files in seeds.items():
    folder = CORPUS / target
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    print(f'{folder}: {len(files)} seeds')
