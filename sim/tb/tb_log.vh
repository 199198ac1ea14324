// The recorders shared by the whole-network testbenches (tb_top.v, tb_axi_top.v), included
// inside the module after its declarations. The module provides: `mem` (the memory, one beat
// a word), `done`, `log_cycle` (the cycle number the VCD window counts), the observation
// ports' wires (trace_*, perf_*) and the parameters WB and WORD_BITS.
//
// Plusargs: +MEM=<hex file, one beat per line> (loaded into mem)  +TRACE=<file>  +PERF=<file>
//           +VCD=<file> [+VCD_FROM=<cycle> +VCD_TO=<cycle>]  (waves, optionally a window)
//           +OUT=<file> +OUT_BEAT=<n> +OUT_BEATS=<n>   (dumped when done rises)
    reg [1023:0] memfile, tracefile, perffile, outfile, vcdfile;
    integer ftrace, fperf, out_beat, out_beats, k, vcd_from, vcd_to;
    reg done_q;
    initial begin
        done_q = 0;
        ftrace = 0;
        fperf = 0;
        if ($value$plusargs("MEM=%s", memfile)) $readmemh(memfile, mem);
        if (!$value$plusargs("VCD_FROM=%d", vcd_from)) vcd_from = 0;
        if (!$value$plusargs("VCD_TO=%d", vcd_to)) vcd_to = 0;
        if ($value$plusargs("VCD=%s", vcdfile)) begin
            $dumpfile(vcdfile);
            $dumpvars(1, dut);
            if (vcd_from > 0) $dumpoff;
        end
        if ($value$plusargs("TRACE=%s", tracefile)) ftrace = $fopen(tracefile, "w");
        if ($value$plusargs("PERF=%s", perffile)) fperf = $fopen(perffile, "w");
        if (!$value$plusargs("OUT=%s", outfile)) outfile = 0;
        if (!$value$plusargs("OUT_BEAT=%d", out_beat)) out_beat = 0;
        if (!$value$plusargs("OUT_BEATS=%d", out_beats)) out_beats = 0;
    end
    always @(posedge clk) begin
        if (ftrace != 0) begin
            for (k = 0; k < WB; k = k + 1)
                if (trace_valid[k])
                    $fwrite(ftrace, "r %0d %0d %h %h %h\n", trace_layer, trace_addr + k,
                            trace_q[k*WORD_BITS +: WORD_BITS], trace_a[k*WORD_BITS +: WORD_BITS],
                            trace_r[k*WORD_BITS +: WORD_BITS]);
            if (trace_g_valid)
                $fwrite(ftrace, "g %0d %0d %h\n", trace_layer, trace_g_addr, trace_g);
        end
        // the end of each compute instruction, so that the reader knows which instruction
        // wrote a word (band staging addresses are reused from band to band)
        if (ftrace != 0 && perf_valid)
            $fwrite(ftrace, "e %0d\n", perf_layer);
        if (fperf != 0 && perf_valid) begin
            $fwrite(fperf, "%0d %0d %0d %0d %0d\n", perf_layer, perf_t, perf_wait, perf_busy,
                    perf_mac);
            $fflush(fperf);  // read live for the progress display
        end
        if (vcd_from > 0 && log_cycle == vcd_from) $dumpon;
        if (vcd_to > 0 && log_cycle == vcd_to) $dumpoff;
        done_q <= done;
        if (done && !done_q) begin
            if (ftrace != 0) $fflush(ftrace);
            if (fperf != 0) $fflush(fperf);
            if (outfile != 0 && out_beats > 0)
                $writememh(outfile, mem, out_beat, out_beat + out_beats - 1);
        end
    end
