#!/bin/sh
# chart.sh OUTDIR: OUTDIR/ratios.png from {speed,durable}_ratios.dat
# (recfs's figure divided by each baseline's; 1.0 = as fast).
OUT=$1
[ -f "$OUT/speed_ratios.dat" ] || exit 0
gnuplot <<GP
set terminal png size 1200,800 noenhanced
set output "$OUT/ratios.png"
set multiplot layout 2,1 title "recfs relative to its baselines (1.0 = as fast)"
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set xtics rotate by -25 scale 0 font ",9"
set logscale y
set yrange [0.05:20]
set grid ytics
set key top right
set ylabel "ratio"
set title "speed (in memory)"
plot "$OUT/speed_ratios.dat" using 2:xtic(1) title columnheader(2), \
     "" using 3 title columnheader(3), 1 notitle lc rgb "black"
set title "durable (disk, sync)"
plot "$OUT/durable_ratios.dat" using 2:xtic(1) title columnheader(2), \
     "" using 3 title columnheader(3), 1 notitle lc rgb "black"
unset multiplot
GP
[ -f "$OUT/ratios.png" ] && echo "bench: chart $OUT/ratios.png"
