// Testbench top for whole-network runs through the SoC ports: hfaccel_axi_top, an AXI4 memory
// model with random back-pressure and latency, an AXI4-Lite host sequencer, and the same
// recorders as tb_top.v. Everything per-cycle is HDL (no Python in the loop, no timing
// controls: Verilator builds it with --no-timing); cocotb (sim/cocotb_tb.py) pulses `start` and
// waits for `done` exactly as with tb_top.v.
//
// On `start` the sequencer writes base_lo, base_hi, prog, perf_addr, perf_cap and control
// (start | irq_enable) over s_axi, waits for `irq`, writes 1 to irq_status.done, then reads
// status, the counters and perf_count and raises `done` with them on the outputs.
//
// The memory: one beat array; AXI byte address A is beat (A - BASE) / (BUS_BITS / 8). Every
// channel's ready/valid stalls in a pseudo-random STALL percent of cycles (an LFSR per channel),
// and a read burst's first beat comes LAT cycles after its address at the earliest.
//
// Plusargs: those of the recorders (tb_log.vh: +MEM +TRACE +PERF +VCD +OUT ...) and
//           +BASE=<hex byte address> +STALL=<percent>
//           +PERF_ADDR=<beat> +PERF_CAP=<records> (the perf record area; 0: none)
//           +RECS=<file> (the perf records written, dumped when done rises)
`timescale 1ns/1ps
module tb_axi_top #(
    parameter integer BUS_BITS = 512,
    parameter integer WORD_BITS = 256,
    parameter integer WB = 8,
    parameter integer DEPTH_LOG2 = 17,
    parameter integer LAT = 8,
    parameter integer ADDR_BITS = 64,  // AccelConfig.axi_addr_bits
    parameter integer ID_BITS = 1      // AccelConfig.axi_id_bits
) (
    input  wire        clk,
    input  wire        rst,
    input  wire        start,
    input  wire [31:0] prog,
    output reg         done,
    output reg         busy,
    output reg  [7:0]  status,
    output reg  [31:0] cycles,
    output reg  [31:0] cmp_busy,
    output reg  [31:0] cmp_wait,
    output reg  [31:0] ld_busy,
    output reg  [31:0] mac_cycles,
    output reg  [31:0] instrs
);
    localparam integer BB_LOG2 = $clog2(BUS_BITS / 8);
    // register offsets (accel/regs.py; checked by tests/test_axi.py against the map)
    localparam [11:0] R_CONTROL = 12'h008, R_STATUS = 12'h00C, R_IRQ = 12'h010,
                      R_BASE_LO = 12'h018, R_BASE_HI = 12'h01C, R_PROG = 12'h020,
                      R_PERF_ADDR = 12'h024, R_PERF_CAP = 12'h028, R_CYCLES = 12'h040,
                      R_PERF_COUNT = 12'h058;

    // ---------------------------------------------------------------- the DUT
    wire irq;
    reg  [11:0] s_awaddr, s_araddr;
    reg  s_awvalid, s_wvalid, s_arvalid;
    reg  [31:0] s_wdata;
    wire s_awready, s_wready, s_bvalid, s_arready, s_rvalid;
    wire [1:0] s_bresp, s_rresp;
    wire [31:0] s_rdata;
    wire [ADDR_BITS-1:0] m_awaddr, m_araddr;
    wire [ID_BITS-1:0] m_awid;
    reg  [ID_BITS-1:0] m_bid;
    wire [7:0] m_awlen, m_arlen;
    wire m_awvalid, m_wvalid, m_wlast, m_arvalid, m_bready, m_rready;
    wire [BUS_BITS-1:0] m_wdata;
    wire [BUS_BITS/8-1:0] m_wstrb;
    reg  m_awready, m_wready, m_bvalid, m_arready, m_rvalid, m_rlast;
    reg  [BUS_BITS-1:0] m_rdata;
    wire [WB-1:0] trace_valid;
    wire [15:0] trace_layer;
    wire [31:0] trace_addr;
    wire [WB*WORD_BITS-1:0] trace_q, trace_a, trace_r;
    wire trace_g_valid;
    wire [31:0] trace_g_addr;
    wire [WORD_BITS-1:0] trace_g;
    wire perf_valid;
    wire [15:0] perf_layer;
    wire [31:0] perf_t, perf_wait, perf_busy, perf_mac;

    hfaccel_axi_top dut (
        .aclk(clk), .aresetn(!rst), .irq(irq),
        .s_axi_awaddr(s_awaddr), .s_axi_awprot(3'd0), .s_axi_awvalid(s_awvalid),
        .s_axi_awready(s_awready), .s_axi_wdata(s_wdata), .s_axi_wstrb(4'hF),
        .s_axi_wvalid(s_wvalid), .s_axi_wready(s_wready), .s_axi_bresp(s_bresp),
        .s_axi_bvalid(s_bvalid), .s_axi_bready(1'b1), .s_axi_araddr(s_araddr),
        .s_axi_arprot(3'd0), .s_axi_arvalid(s_arvalid), .s_axi_arready(s_arready),
        .s_axi_rdata(s_rdata), .s_axi_rresp(s_rresp), .s_axi_rvalid(s_rvalid),
        .s_axi_rready(1'b1),
        .m_axi_awid(m_awid), .m_axi_awaddr(m_awaddr), .m_axi_awlen(m_awlen), .m_axi_awsize(),
        .m_axi_awburst(), .m_axi_awlock(), .m_axi_awcache(), .m_axi_awprot(), .m_axi_awqos(),
        .m_axi_awvalid(m_awvalid), .m_axi_awready(m_awready),
        .m_axi_wdata(m_wdata), .m_axi_wstrb(m_wstrb), .m_axi_wlast(m_wlast),
        .m_axi_wvalid(m_wvalid), .m_axi_wready(m_wready),
        .m_axi_bid(m_bid), .m_axi_bresp(2'd0), .m_axi_bvalid(m_bvalid), .m_axi_bready(m_bready),
        .m_axi_arid(), .m_axi_araddr(m_araddr), .m_axi_arlen(m_arlen), .m_axi_arsize(),
        .m_axi_arburst(), .m_axi_arlock(), .m_axi_arcache(), .m_axi_arprot(), .m_axi_arqos(),
        .m_axi_arvalid(m_arvalid), .m_axi_arready(m_arready),
        .m_axi_rid({ID_BITS{1'b0}}), .m_axi_rdata(m_rdata), .m_axi_rresp(2'd0), .m_axi_rlast(m_rlast),
        .m_axi_rvalid(m_rvalid), .m_axi_rready(m_rready),
        .trace_valid(trace_valid), .trace_layer(trace_layer), .trace_addr(trace_addr),
        .trace_q(trace_q), .trace_a(trace_a), .trace_r(trace_r),
        .trace_g_valid(trace_g_valid), .trace_g_addr(trace_g_addr), .trace_g(trace_g),
        .perf_valid(perf_valid), .perf_layer(perf_layer), .perf_t(perf_t),
        .perf_wait(perf_wait), .perf_busy(perf_busy), .perf_mac(perf_mac)
    );

    // ---------------------------------------------------------------- random stalls
    reg [31:0] lfsr [0:4];  // aw, w, b, ar, r
    reg [6:0] stall_pct;
    wire [4:0] stall;
    genvar g;
    generate
        for (g = 0; g < 5; g = g + 1) begin : stalls
            assign stall[g] = (lfsr[g][6:0] % 7'd100) < stall_pct;
        end
    endgenerate

    // ---------------------------------------------------------------- the memory
    reg [BUS_BITS-1:0] mem [0:(1<<DEPTH_LOG2)-1];
    reg [63:0] base;
    function [DEPTH_LOG2-1:0] beat_of(input [63:0] a);
        reg [63:0] d;
        begin
            d = (a - base) >> BB_LOG2;
            beat_of = d[DEPTH_LOG2-1:0];
        end
    endfunction
    // read bursts: a queue of (first beat, beats - 1, earliest cycle)
    localparam integer RQ = 16;
    reg [DEPTH_LOG2-1:0] rq_beat [0:RQ-1];
    reg [7:0] rq_len [0:RQ-1];
    reg [31:0] rq_t [0:RQ-1];
    reg [4:0] rq_n;
    reg [3:0] rq_head, rq_tail;
    reg [7:0] r_cnt;
    reg [31:0] now;
    // write bursts: a queue of (first beat, beats - 1); B responses owed
    localparam integer WQ = 16;
    reg [DEPTH_LOG2-1:0] wq_beat [0:WQ-1];
    reg [ID_BITS-1:0] wq_id [0:WQ-1];
    // the IDs of the B responses owed, in order (the perf records' writes carry another ID)
    localparam integer BQ = 64;
    reg [ID_BITS-1:0] bq_id [0:BQ-1];
    reg [5:0] bq_head, bq_tail;
    reg [4:0] wq_n;
    reg [3:0] wq_head, wq_tail;
    reg [7:0] w_cnt;
    reg [15:0] b_owed;
    integer i;
    always @(*) begin
        m_arready = (rq_n < RQ) && !stall[3];
        m_awready = (wq_n < WQ) && !stall[0];
        m_wready = (wq_n != 0) && !stall[1];
        m_bvalid = (b_owed != 0) && !stall[2];
        m_bid = bq_id[bq_head];
        m_rvalid = (rq_n != 0) && (now >= rq_t[rq_head]) && !stall[4];
        m_rlast = m_rvalid && (r_cnt == rq_len[rq_head]);
        m_rdata = mem[rq_beat[rq_head] + r_cnt];
    end
    always @(posedge clk) begin
        now <= now + 1;
        for (i = 0; i < 5; i = i + 1)
            lfsr[i] <= {lfsr[i][30:0], lfsr[i][31] ^ lfsr[i][21] ^ lfsr[i][1] ^ lfsr[i][0]};
        if (m_arvalid && m_arready) begin
            rq_beat[rq_tail] <= beat_of(m_araddr);
            rq_len[rq_tail] <= m_arlen;
            rq_t[rq_tail] <= now + LAT;
            rq_tail <= rq_tail + 1;
        end
        if (m_rvalid && m_rready) begin
            r_cnt <= m_rlast ? 8'd0 : r_cnt + 1;
            if (m_rlast) rq_head <= rq_head + 1;
        end
        rq_n <= rq_n + (m_arvalid && m_arready) - (m_rvalid && m_rready && m_rlast);
        if (m_awvalid && m_awready) begin
            wq_beat[wq_tail] <= beat_of(m_awaddr);
            wq_id[wq_tail] <= m_awid;
            wq_tail <= wq_tail + 1;
        end
        if (m_wvalid && m_wready) begin
            mem[wq_beat[wq_head] + w_cnt] <= m_wdata;
            if (m_wstrb != {(BUS_BITS/8){1'b1}})
                $display("tb_axi_top: partial write strobe %h", m_wstrb);
            w_cnt <= m_wlast ? 8'd0 : w_cnt + 1;
            if (m_wlast) begin
                wq_head <= wq_head + 1;
                bq_id[bq_tail] <= wq_id[wq_head];
                bq_tail <= bq_tail + 1;
            end
        end
        wq_n <= wq_n + (m_awvalid && m_awready) - (m_wvalid && m_wready && m_wlast);
        b_owed <= b_owed + (m_wvalid && m_wready && m_wlast) - (m_bvalid && m_bready);
        if (m_bvalid && m_bready) bq_head <= bq_head + 1;
        if (b_owed > BQ - 2) $display("tb_axi_top: more than %0d B responses owed", BQ - 2);
        if (rst) begin
            rq_n <= 0; rq_head <= 0; rq_tail <= 0; r_cnt <= 0;
            wq_n <= 0; wq_head <= 0; wq_tail <= 0; w_cnt <= 0; b_owed <= 0;
            bq_head <= 0; bq_tail <= 0;
        end
    end

    // ---------------------------------------------------------------- the host
    // program: writes (base_lo, base_hi, prog, perf_addr, perf_cap, control), wait irq, write
    // irq_status, then read status, the six counters and perf_count
    localparam integer N_WR = 6, N_RD = 8;
    reg [31:0] perf_addr, perf_cap, perf_count;
    reg [3:0] step;
    reg [2:0] phase;  // 0 idle, 1 writing, 2 wait irq, 3 ack irq, 4 reading, 5 done
    reg aw_done, w_done;
    reg [31:0] rd_val [0:N_RD-1];
    function [11:0] wr_addr(input [3:0] k);
        wr_addr = k == 0 ? R_BASE_LO : k == 1 ? R_BASE_HI : k == 2 ? R_PROG
                : k == 3 ? R_PERF_ADDR : k == 4 ? R_PERF_CAP : R_CONTROL;
    endfunction
    function [31:0] wr_data(input [3:0] k);
        wr_data = k == 0 ? base[31:0] : k == 1 ? base[63:32] : k == 2 ? prog
                : k == 3 ? perf_addr : k == 4 ? perf_cap : 32'h5;
    endfunction
    always @(posedge clk) begin
        if (phase == 1 || phase == 3) begin
            if (s_awvalid && s_awready) begin s_awvalid <= 0; aw_done <= 1; end
            if (s_wvalid && s_wready) begin s_wvalid <= 0; w_done <= 1; end
            if (s_bvalid) begin
                aw_done <= 0; w_done <= 0;
                if (phase == 3) begin
                    phase <= 4; step <= 0;
                    s_arvalid <= 1; s_araddr <= R_STATUS;
                end else if (step == N_WR - 1) begin
                    phase <= 2;
                end else begin
                    step <= step + 1;
                    s_awvalid <= 1; s_wvalid <= 1;
                    s_awaddr <= wr_addr(step + 1); s_wdata <= wr_data(step + 1);
                end
            end
        end else if (phase == 2) begin
            if (irq) begin
                phase <= 3;
                s_awvalid <= 1; s_wvalid <= 1; s_awaddr <= R_IRQ; s_wdata <= 32'h1;
            end
        end else if (phase == 4) begin
            if (s_arvalid && s_arready) s_arvalid <= 0;
            if (s_rvalid) begin
                rd_val[step] <= s_rdata;
                if (step == N_RD - 1) begin
                    phase <= 5;
                end else begin
                    step <= step + 1;
                    s_arvalid <= 1;  // the counters from 0x40, then perf_count
                    s_araddr <= step == N_RD - 2 ? R_PERF_COUNT : R_CYCLES + 4 * step;
                end
            end
        end
        if (start && (phase == 0 || phase == 5)) begin
            phase <= 1; step <= 0;
            s_awvalid <= 1; s_wvalid <= 1; s_awaddr <= wr_addr(0); s_wdata <= wr_data(0);
        end
        if (rst) begin
            phase <= 0; s_awvalid <= 0; s_wvalid <= 0; s_arvalid <= 0;
        end
    end
    always @(*) begin
        done = phase == 5;
        status = rd_val[0][15:8];
        busy = rd_val[0][0];
        cycles = rd_val[1];
        cmp_busy = rd_val[2];
        cmp_wait = rd_val[3];
        ld_busy = rd_val[4];
        mac_cycles = rd_val[5];
        instrs = rd_val[6];
        perf_count = rd_val[7];
    end

    // ---------------------------------------------------------------- recorders
    wire [31:0] log_cycle = now;
`include "tb_log.vh"
    reg [1023:0] recfile;
    integer pct;
    localparam integer REC_BEATS = BUS_BITS >= 256 ? 1 : 256 / BUS_BITS;
    initial begin
        now = 0;
        phase = 0;
        for (i = 0; i < N_RD; i = i + 1) rd_val[i] = 0;
        for (i = 0; i < 5; i = i + 1) lfsr[i] = 32'h1234_5678 * (i + 1) + 1;
        if (!$value$plusargs("BASE=%h", base)) base = 64'h0;
        if (!$value$plusargs("STALL=%d", pct)) pct = 0;
        if (!$value$plusargs("PERF_ADDR=%d", perf_addr)) perf_addr = 0;
        if (!$value$plusargs("PERF_CAP=%d", perf_cap)) perf_cap = 0;
        if (!$value$plusargs("RECS=%s", recfile)) recfile = 0;
        stall_pct = pct[6:0];
    end
    // the perf records the shell wrote, dumped when done rises
    always @(posedge clk)
        if (done && !done_q && recfile != 0 && perf_addr != 0 && perf_count != 0)
            $writememh(recfile, mem, perf_addr, perf_addr + perf_count * REC_BEATS - 1);
endmodule
