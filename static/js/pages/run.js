// The run page (templates/index.html): the loss chart and the probability line, the connection
// indicator and the form read-outs, the recipe's walk, the Parameters panel, time travel, the
// projector following the spotlight (a class's run on the projector), the graph of one step,
// the lesson's milestones and epoch line, the charts' numbers as tables, the guided tour, the
// list of runs asked for only while it is open.

import { startTables } from "../as-table.js";
import { startLossChart } from "../chart.js";
import { startConnection } from "../connection.js";
import { startGraphCard } from "../graph/card.js";
import { startLesson } from "../lesson.js";
import { startParamsPanel } from "../params/panel.js";
import { startProbeLine } from "../probe-line.js";
import { startReadouts } from "../readouts.js";
import { startRecipeWalk } from "../recipe.js";
import { startRunList } from "../run-list.js";
import { followSpotlight } from "../spotlight.js";
import { startTimeline } from "../timeline.js";
import { startTour } from "../tour.js";

startLossChart();
startProbeLine();
startConnection();
startReadouts();
startRunList();
startRecipeWalk();
startLesson();
startParamsPanel();
startTimeline();
followSpotlight();
startGraphCard();
startTables();
startTour();
