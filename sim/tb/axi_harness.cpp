// The bare-metal C driver (rtl/driver) against the Verilator model of hfaccel_axi_top.
//
// The driver is compiled as C (-Wall -Werror, -DHFACCEL_EXTERNAL_REG_IO) and linked here; its
// register reads and writes (hfaccel_reg_read/hfaccel_reg_write below) are AXI4-Lite
// transactions on s_axi that tick the model until the response comes. Every tick also serves
// m_axi from an AXI4 memory model (in-order bursts, B responses by ID, every channel stalled
// in a pseudo-random STALL percent of cycles). Built by sim/driver_run.py with
// `verilator --cc --exe --build`.
//
// Usage: axi_harness IMAGE BASE CFG_HASH PERF_ADDR PERF_CAP OUT_OFF OUT_BYTES STALL OUTDIR
//   IMAGE: the program image with the input in place, loaded at bus address BASE (hex);
//   CFG_HASH (hex): the hash the program was compiled for; PERF_ADDR (beats from BASE),
//   PERF_CAP: the perf record area; OUT_OFF, OUT_BYTES: the logits' bytes from BASE.
// Writes OUTDIR/result.txt ("name value" lines: rc, status, counters), OUTDIR/out.bin (the
// logits' bytes) and OUTDIR/perf.bin (the perf records). Exit 0 when the driver said success.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <string>
#include <vector>

#include "Vhfaccel_axi_top.h"
#include "verilated.h"

#include "hfaccel_driver.h"

namespace {

constexpr unsigned BB = HFACCEL_BUS_BYTES;  // bytes a beat
constexpr uint64_t MEM_BYTES = 1u << 24;

Vhfaccel_axi_top *top;
uint64_t mem_base;
std::vector<uint8_t> mem(MEM_BYTES);
uint64_t cycle;
unsigned stall_pct;
uint32_t lfsr = 0x1234567u;

// beats to and from the model's ports, whatever type Verilator gives the width
template <std::size_t N> void put(VlWide<N> &w, const uint8_t *p) {
    for (std::size_t i = 0; i < N; i++) {
        uint32_t v;
        std::memcpy(&v, p + 4 * i, 4);
        w[i] = v;
    }
}
template <std::size_t N> void get(const VlWide<N> &w, uint8_t *p) {
    for (std::size_t i = 0; i < N; i++) {
        uint32_t v = w[i];
        std::memcpy(p + 4 * i, &v, 4);
    }
}
template <typename T> void put(T &w, const uint8_t *p) {
    uint64_t v = 0;
    std::memcpy(&v, p, BB);
    w = static_cast<T>(v);
}
template <typename T> void get(const T &w, uint8_t *p) {
    uint64_t v = w;
    std::memcpy(p, &v, BB);
}

uint8_t *at(uint64_t addr, uint64_t n) {
    if (addr < mem_base || addr + n > mem_base + MEM_BYTES) {
        std::fprintf(stderr, "axi_harness: access at %#llx outside the memory\n",
                     (unsigned long long)addr);
        std::exit(3);
    }
    return &mem[addr - mem_base];
}

bool stalled() {
    lfsr = (lfsr << 1) | (((lfsr >> 31) ^ (lfsr >> 21) ^ (lfsr >> 1) ^ lfsr) & 1u);
    return (lfsr % 100u) < stall_pct;
}

// the AXI4 memory: bursts queue in order; W follows AW; B responses in order, with the ID
struct Burst {
    uint64_t addr;
    unsigned len, id, beat;
};
std::deque<Burst> aw_q, ar_q;
std::deque<unsigned> b_q;
bool s_aw, s_w, s_b, s_ar, s_r;  // this cycle's stalls

void drive_memory() {
    s_aw = stalled(), s_w = stalled(), s_b = stalled(), s_ar = stalled(), s_r = stalled();
    top->m_axi_awready = aw_q.size() < 8 && !s_aw;
    top->m_axi_wready = !aw_q.empty() && !s_w;
    top->m_axi_bvalid = !b_q.empty() && !s_b;
    top->m_axi_bid = b_q.empty() ? 0 : b_q.front();
    top->m_axi_bresp = 0;
    top->m_axi_arready = ar_q.size() < 8 && !s_ar;
    top->m_axi_rvalid = !ar_q.empty() && !s_r;
    top->m_axi_rid = 0;
    top->m_axi_rresp = 0;
    if (!ar_q.empty()) {
        const Burst &b = ar_q.front();
        put(top->m_axi_rdata, at(b.addr + uint64_t(b.beat) * BB, BB));
        top->m_axi_rlast = b.beat == b.len;
    } else {
        top->m_axi_rlast = 0;
    }
}

// handshakes of the cycle (sampled before the clock edge)
void serve_memory() {
    if (top->m_axi_awvalid && top->m_axi_awready)
        aw_q.push_back({top->m_axi_awaddr, top->m_axi_awlen, top->m_axi_awid, 0});
    if (top->m_axi_wvalid && top->m_axi_wready) {
        Burst &b = aw_q.front();
        get(top->m_axi_wdata, at(b.addr + uint64_t(b.beat) * BB, BB));
        if (b.beat++ == b.len) {
            b_q.push_back(b.id);
            aw_q.pop_front();
        }
    }
    if (top->m_axi_bvalid && top->m_axi_bready)
        b_q.pop_front();
    if (top->m_axi_arvalid && top->m_axi_arready)
        ar_q.push_back({top->m_axi_araddr, top->m_axi_arlen, 0, 0});
    if (top->m_axi_rvalid && top->m_axi_rready) {
        Burst &b = ar_q.front();
        if (b.beat++ == b.len)
            ar_q.pop_front();
    }
}

// the s_axi handshakes of a cycle, sampled before its clock edge
struct Lite {
    bool aw, w, b, ar, r;
    uint32_t rdata;
};

// one clock cycle: inputs settle, handshakes are sampled, the edge; then `lite` sees the
// cycle's handshakes and changes the s_axi inputs for the next cycle (after the edge, so that
// the model sampled this cycle's values)
template <typename F> void tick(F lite) {
    drive_memory();
    top->aclk = 0;
    top->eval();
    serve_memory();
    Lite h{top->s_axi_awvalid && top->s_axi_awready, top->s_axi_wvalid && top->s_axi_wready,
           top->s_axi_bvalid && top->s_axi_bready, top->s_axi_arvalid && top->s_axi_arready,
           top->s_axi_rvalid && top->s_axi_rready, top->s_axi_rdata};
    top->aclk = 1;
    top->eval();
    cycle++;
    lite(h);
}
void tick() {
    tick([](const Lite &) {});
}

constexpr uint64_t LITE_TIMEOUT = 1000;

[[noreturn]] void lite_hang(const char *what, uint32_t offset) {
    std::fprintf(stderr, "axi_harness: no %s response at register %#x\n", what, offset);
    std::exit(4);
}

}  // namespace

// the driver's register access: AXI4-Lite transactions that tick the model
extern "C" uint32_t hfaccel_reg_read(const hfaccel_t *, uint32_t offset) {
    top->s_axi_araddr = offset;
    top->s_axi_arprot = 0;
    top->s_axi_arvalid = 1;
    top->s_axi_rready = 1;
    bool got = false;
    uint32_t v = 0;
    for (uint64_t i = 0; i < LITE_TIMEOUT && !got; i++)
        tick([&](const Lite &h) {
            if (h.ar)
                top->s_axi_arvalid = 0;
            if (h.r) {
                v = h.rdata;
                got = true;
            }
        });
    if (!got)
        lite_hang("read", offset);
    return v;
}

extern "C" void hfaccel_reg_write(hfaccel_t *, uint32_t offset, uint32_t value) {
    top->s_axi_awaddr = offset;
    top->s_axi_awprot = 0;
    top->s_axi_awvalid = 1;
    top->s_axi_wdata = value;
    top->s_axi_wstrb = 0xF;
    top->s_axi_wvalid = 1;
    top->s_axi_bready = 1;
    bool got = false;
    for (uint64_t i = 0; i < LITE_TIMEOUT && !got; i++)
        tick([&](const Lite &h) {
            if (h.aw)
                top->s_axi_awvalid = 0;
            if (h.w)
                top->s_axi_wvalid = 0;
            if (h.b)
                got = true;
        });
    if (!got)
        lite_hang("write", offset);
}

int main(int argc, char **argv) {
    if (argc != 10) {
        std::fprintf(stderr, "usage: %s IMAGE BASE CFG_HASH PERF_ADDR PERF_CAP OUT_OFF "
                             "OUT_BYTES STALL OUTDIR\n", argv[0]);
        return 2;
    }
    Verilated::commandArgs(1, argv);
    top = new Vhfaccel_axi_top;
    std::ifstream img(argv[1], std::ios::binary);
    std::vector<char> image((std::istreambuf_iterator<char>(img)), {});
    mem_base = std::strtoull(argv[2], nullptr, 16);
    uint32_t cfg_hash = std::strtoul(argv[3], nullptr, 16);
    uint32_t perf_addr = std::strtoul(argv[4], nullptr, 10);
    uint32_t perf_cap = std::strtoul(argv[5], nullptr, 10);
    uint64_t out_off = std::strtoull(argv[6], nullptr, 10);
    uint64_t out_bytes = std::strtoull(argv[7], nullptr, 10);
    stall_pct = std::strtoul(argv[8], nullptr, 10);
    std::string dir = argv[9];
    std::memcpy(at(mem_base, image.size()), image.data(), image.size());

    top->aresetn = 0;
    for (int i = 0; i < 4; i++)
        tick();
    top->aresetn = 1;
    tick();

    hfaccel_t dev;
    int rc = hfaccel_open(&dev, nullptr, cfg_hash);
    uint64_t cycles_to_irq = 0;
    if (rc == HFACCEL_OK) {
        hfaccel_set_perf(&dev, perf_addr, perf_cap);
        rc = hfaccel_start(&dev, mem_base, 1);
    }
    if (rc == HFACCEL_OK) {
        uint64_t t0 = cycle;
        while (!top->irq && cycle - t0 < 50000000u)
            tick();
        cycles_to_irq = cycle - t0;
        rc = top->irq ? hfaccel_wait(&dev, 10) : HFACCEL_E_TIMEOUT;
    }
    std::FILE *f = std::fopen((dir + "/result.txt").c_str(), "w");
    std::fprintf(f, "rc %d\nirq_after %llu\n", rc, (unsigned long long)cycles_to_irq);
    const struct {
        const char *name;
        uint32_t reg;
    } counters[] = {{"status", HFACCEL_REG_STATUS},   {"cycles", HFACCEL_REG_CYCLES},
                    {"instrs", HFACCEL_REG_INSTRS},   {"mac_cycles", HFACCEL_REG_MAC_CYCLES},
                    {"perf_count", HFACCEL_REG_PERF_COUNT}};
    uint32_t n_perf = 0;
    for (const auto &c : counters) {
        uint32_t v = hfaccel_counter(&dev, c.reg);
        std::fprintf(f, "%s %u\n", c.name, v);
        if (c.reg == HFACCEL_REG_PERF_COUNT)
            n_perf = v;
    }
    std::fclose(f);
    std::ofstream(dir + "/out.bin", std::ios::binary)
        .write(reinterpret_cast<const char *>(at(mem_base + out_off, out_bytes)), out_bytes);
    uint64_t perf_bytes = uint64_t(n_perf) * HFACCEL_PERF_STRIDE;
    std::ofstream(dir + "/perf.bin", std::ios::binary)
        .write(reinterpret_cast<const char *>(at(mem_base + uint64_t(perf_addr) * BB,
                                                 perf_bytes)), perf_bytes);
    top->final();
    delete top;
    return rc == HFACCEL_OK ? 0 : 1;
}
